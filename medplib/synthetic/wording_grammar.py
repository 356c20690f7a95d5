"""The training question language: per template key, question and request phrasings, the wrappers around them
and the synonyms users have for structures and modalities (data only; `wording.py` composes and samples them).

Syntax: `[a|b|c]` is one slot of alternatives (empty allowed, no nesting), `{x}` a field of the generator's template
(`x`, `xs`, `a_x`, `n`, `a`, `b`, `be`, `be_a`, `container`), `<region>` the region placeholder. Phrasings are
lower-case without final punctuation; `wording.py` adds case, punctuation and contractions. Keys and fields are those
of `question_text.T`; the answers stay the generator's (short, from its vocabulary).
"""

from __future__ import annotations

_IMG = "[this image|the image|this picture|this scan|the scan|here]"
_IN_IMG = "[| in this image| in the image| here| in this picture| on this scan]"
_MODALITY_NOUN = "[imaging modality|modality|kind of image|type of image|kind of scan|type of scan|imaging technique]"
_BIG = "[larger|bigger]"
_SEG_VERB = ("[segment|outline|delineate|highlight|mark|locate|find|show|show me|mask|contour|trace|isolate|extract|"
             "detect|annotate|point out|pick out|select|identify|draw|colour|color|colour in|color in|fill in|cut out|circle|"
             "demarcate|delimit|localize|localise|visualize|visualise|display|indicate|depict|map out|label|mark out|"
             "bring up|capture]")
_SEG_NOUN = "[segmentation|mask|segmentation mask|contour|outline|boundary]"

# key -> (questions, requests). Requests get REQUEST_WRAPPERS ("can you ...", "please ..."); questions get
# QUESTION_WRAPPERS. Both get CONTEXTS.
PHRASINGS: dict[str, tuple[list[str], list[str]]] = {
    "modality_open": (
        ["what imaging modality is used in this image", "what is the modality of this image",
         "which imaging technique was used to acquire this image",
         f"what {_MODALITY_NOUN} is [this|this image|used here|shown|used for this image]",
         f"which {_MODALITY_NOUN} [is this|was used|was used here|does this image come from|produced this image]",
         f"what is the {_MODALITY_NOUN}{_IN_IMG}", "how was [this image|this picture|this] [acquired|taken|made]",
         f"what was used to [take|acquire|make] {_IMG}", "what sort of [image|scan|picture] is this",
         "can you tell me the [modality|imaging modality] of [this image|this picture]",
         "do you know what [modality|kind of image] this is",
         "what [kind|type|sort] of [imaging|scan|study|exam] [is this|was used|was done|was performed]",
         "[what|which] [modality|imaging] [are we seeing|is it|do we have here]", "[modality|imaging modality] of this image"],
        [f"[name|identify|tell me|state|give me|determine] the [modality|imaging modality|imaging technique]{_IN_IMG}",
         "tell me what [kind|type|sort] of [image|scan] this is", "classify the modality of this image"]),
    "modality_choice": (
        ["was this image acquired with {a} or {b}", "is the modality of this image {a} or {b}",
         "is this [|image |picture |scan ]{a} or {b}", "is this a {a} or a {b} [image|scan|picture]",
         "[was|is] this [image|picture|scan] [from|taken with|made with|acquired by] {a} or {b}",
         "which modality is this, {a} or {b}", "{a} or {b}", "is this from {a} or from {b}",
         "was {a} or {b} used [|for this image|here]", "is it {a} or {b}", "did this come from {a} or {b}",
         "which one is this, {a} or {b}"],
        ["tell me whether this is {a} or {b}", "[decide|choose|pick]: {a} or {b}"]),
    "modality_yesno": (
        ["is this a {a} image", "was this image acquired with {a}", "is this [|image |picture ][a |an ]{a}",
         "is this a {a} [scan|picture|study]", "[was|is] this [image |picture |]taken with {a}",
         "is this an image from {a}", "does this image come from {a}", "is the modality {a}",
         "was {a} used [|here|for this image|to acquire this image]", "is this image from a {a} [|exam|study]",
         "is it {a}", "is the imaging modality {a}", "am i looking at a {a} image"],
        ["tell me if this is a {a} image", "confirm whether this image is {a}"]),
    "body_part": (
        ["which body part is shown in this image", "what part of the body is imaged here",
         f"[what|which] [body part|part of the body|organ|body region|anatomical region|anatomy|region of the body] "
         f"[is this|is shown|is imaged|is visible|does this show|does this image show]{_IN_IMG}",
         "where in the body is this [|image|picture] from", "what body part am i looking at",
         "what is [imaged|shown|pictured] in this image", "[what|which] [body part|organ|region] [is it|do we see|are we seeing]",
         "what [part|region] of the [body|anatomy] does this [image|scan|picture] [show|cover|depict]"],
        [f"[name|identify|tell me] the [body part|organ|body region|anatomical region]{_IN_IMG}",
         "tell me which [part of the body|body part|organ] this is"]),
    "presence": (
        ["{be} there {a_x} in this image", "does this image show {a_x}", "{be} {a_x} visible in this image",
         f"{{be}} there {{a_x}}{_IN_IMG}", f"{{be}} there any {{n}}{_IN_IMG}", f"{{be}} {{a_x}} [visible|present|seen]{_IN_IMG}",
         f"[do you see|can you see|can you find|do you find|do we have] {{a_x}}{_IN_IMG}",
         "[does|do] [this image|the image|this scan|this picture] [show|contain|have|include] {a_x}",
         "can {a_x} be seen", "is there evidence of {a_x}", f"any {{n}}{_IN_IMG}", "{a_x}: yes or no",
         "{be} {a_x} present or absent", "is there [a sign|any sign|any evidence] of {a_x}",
         "[does|do] [it|this|this one] [show|have|contain] {a_x}", "{a_x} [present|visible|seen|there]",
         "[are you able to|are we able to] see {a_x}", "[is|are] there signs of {a_x}",
         "[would you say|do you think] there is {a_x}", "[has|does] this image [got|have] {a_x}"],
        ["[tell me|check|say] [if|whether] there is {a_x}[| in this image]", "check for {a_x}",
         "[tell me|check] whether this image shows {a_x}", "look for {a_x} and tell me if it is there",
         "[let me know|tell me|say] if you see {a_x}", "[search|look] for {a_x}"]),
    "count": (
        ["how many {xs} are there", "how many {xs} can be seen in this image", "what is the number of {xs} in this image",
         f"how many {{xs}} [are there|are visible|are present|do you see|can you see|can you find|can be seen|"
         f"are shown|does it show]{_IN_IMG}", f"what is the [number|count|total number] of {{xs}}{_IN_IMG}",
         "how many {xs} does [this image|the image|this scan] [show|have|contain]", "number of {xs}",
         "what's the {xs} count", "how many {xs} [appear|show up|are in the picture|are on the image|does it have]",
         "how many {xs} can you [count|identify|detect|make out]", "how many {xs} [do i have|do we have|are we dealing with]",
         "what is the [total|number] of {xs} [here|present|visible]", "[how many|number of] {xs}, [please|roughly]"],
        [f"[count|tell me the number of|give me the number of|give the count of] [the |]{{xs}}{_IN_IMG}",
         "[tell me|count] how many {xs} there are", "count all the {xs}",
         "[enumerate|count up|give me a count of|give a count of|report the number of] the {xs}[| in this image]",
         "[tell me|let me know|say] how many {xs} [you see|you can see|are visible|are present|this image has]"]),
    "side_patient": (
        ["{be} the {x} on the patient's left or right side", "on which side of the patient {be} the {x}, left or right",
         "{be} the {x} on the [patient's |]left or [the |]right[| side]", "which side of the patient {be} the {x} on",
         "{be} the {x} on the left or right side of the patient", "on which side {be} the {x}[|, left or right]",
         "which side {be} the {x} on[|, left or right]", "left or right: where {be} the {x}",
         "{be} the {x} [left-sided|on the left side] or [right-sided|on the right side]", "the {x}: left or right",
         "[is it|it's] the patient's left or right [that|where] the {x} {be}",
         "{be} the {x} [patient left|patient right] or [patient right|patient left]"],
        ["tell me whether the {x} {be} on the [patient's |]left or right", "[say|state] which side the {x} {be} on"]),
    "side_image": (
        ["{be} the {x} in the left or right half of the image", "on which side of the image {be} the {x}, left or right",
         "{be} the {x} [in|on] the left or [the |]right [half|side|part] of the [image|picture]",
         "{be} the {x} on the left or [the |]right[| side]", "which [half|side] of the image {be} the {x} in",
         "on which side {be} the {x}[|, left or right]", "which side {be} the {x} on[|, left or right]",
         "left or right: where {be} the {x}", "the {x}: left or right"],
        ["tell me whether the {x} {be} on the left or right [|of the image]",
         "[say|state] which side of the image the {x} {be} on"]),
    "vertical": (
        ["{be} the {x} in the upper or lower half of the image", "{be} the {x} located in the upper or lower part of the image",
         "{be} the {x} in the [upper|top] or [lower|bottom] [half|part][| of the image| of the picture]",
         "{be} the {x} at the top or [at |]the bottom[| of the image]", "{be} the {x} high or low in the image",
         "which half {be} the {x} in, upper or lower", "upper or lower: where {be} the {x}", "the {x}: upper or lower",
         "{be} the {x} [above|in the upper half] or [below|in the lower half]",
         "{be} the {x} toward the top or toward the bottom"],
        ["tell me [if|whether] the {x} {be} in the upper or lower half", "[say|state] whether the {x} {be} up or down"]),
    "location_open": (
        ["where {be} the {x} located", "in which {container} {be} the {x}",
         "[which|what] {container} {be} the {x} in", "in [which|what] {container} [do you see|can you see|is there] the {x}",
         "which {container} contains the {x}", "the {x} {be} in which {container}",
         "where exactly {be} the {x} [located|found|situated]", "where {be} the {x} [found|situated]",
         "which {container} has the {x}", "where [in the image|in this image|here] {be} the {x}",
         "what {container} {be} the {x} [located in|found in|in]"],
        ["tell me [which|in which] {container} the {x} {be} [|in]", "[name|identify] the {container} with the {x}",
         "tell me where the {x} {be} located"]),
    "larger_choice": (
        ["which is larger, the {a} or the {b}", "which structure is bigger, the {a} or the {b}",
         f"which [is|one is|structure is|of the two is|appears|looks] {_BIG}[|,|:] the {{a}} or the {{b}}",
         f"what is {_BIG}, the {{a}} or the {{b}}", f"of the {{a}} and the {{b}}, which is {_BIG}",
         f"the {{a}} or the {{b}}: which is {_BIG}", "which takes up more space, the {a} or the {b}",
         f"which is the {_BIG} structure, the {{a}} or the {{b}}", f"which is {_BIG}: {{a}} or {{b}}"],
        [f"compare the {{a}} and the {{b}}: which is {_BIG}", f"tell me which is {_BIG}, the {{a}} or the {{b}}"]),
    "larger_yesno": (
        ["{be_a} the {a} larger than the {b}", "{be_a} the {a} bigger than the {b}",
         f"{{be_a}} the {{a}} {_BIG} [than|compared to|compared with] the {{b}}", "is the {b} smaller than the {a}",
         f"[does|do] the {{a}} [look|appear|seem] {_BIG} than the {{b}}", "{be_a} the {a} larger in size than the {b}",
         "{be_a} the {a} of greater size than the {b}", f"would you say the {{a}} {{be_a}} {_BIG} than the {{b}}"],
        [f"tell me [if|whether] the {{a}} {{be_a}} {_BIG} than the {{b}}"]),
    "abnormality_open": (
        ["what abnormality is seen in this image", "what is the main abnormal finding in this image",
         f"what [abnormality|abnormal finding|lesion|pathology|finding] [is seen|is visible|is present|do you see|"
         f"can you see]{_IN_IMG}", f"what is [the|the main|the most obvious] [abnormality|abnormal finding|finding]{_IN_IMG}",
         f"what is abnormal{_IN_IMG}", f"what is wrong{_IN_IMG}", f"which abnormality [is present|is there|is shown]{_IN_IMG}",
         "what does this image show that is abnormal", "what kind of abnormality is there",
         "what [is|seems to be|appears to be] the [problem|issue|lesion][| here| in this image]",
         "what [lesion|abnormality|finding] [does this image have|does it show|is there]", "which finding is [seen|present]"],
        [f"[name|identify|describe|tell me] the [abnormality|abnormal finding|main finding|finding]{_IN_IMG}",
         "tell me what is abnormal [here|in this image]"]),
    "abnormality_yesno": (
        ["is there any abnormality in this image", "does this image show an abnormal finding",
         f"is there [an|any] [abnormality|abnormal finding|pathology]{_IN_IMG}", f"is anything abnormal{_IN_IMG}",
         f"are there any [abnormalities|abnormal findings]{_IN_IMG}", "does anything look abnormal",
         f"do you see [an|any] abnormality{_IN_IMG}", "is this image abnormal", "does [the|this] image look abnormal",
         f"is there something abnormal{_IN_IMG}", f"any [abnormality|abnormalities|abnormal findings]{_IN_IMG}",
         "is anything wrong [|here|in this image]",
         "[does|do] [this|the] [image|scan|picture|patient] [have|show] [any|an] [abnormality|disease|problem]",
         "is there [any|a] [disease|problem|lesion] [|here|in this image|visible]", "[normal or abnormal|abnormal or normal]",
         "[does|would] [this|the image] count as abnormal", "is there a finding [|here|in this image]"],
        ["tell me [if|whether] there is [an|any] abnormality", "check [this image |]for abnormalities"]),
    "eye": (
        ["is this the left eye or the right eye", "is this a left or right eye", "which eye is this[|, left or right]",
         "[left|the left] or [right|the right] eye", "is this the left or the right eye", "which eye is [shown|imaged|this image of]",
         "is this [fundus|image|photo] [of|from] the left or [the |]right eye", "does this [image|photo] show the left or right eye",
         "is it the left eye or the right one"],
        ["tell me which eye this is", "[say|tell me] whether this is the left or right eye"]),
    "diagnosis_open": (
        ["what is the most likely diagnosis of the skin lesion", "what is the diagnosis",
         "what is the [|most likely |likely |probable ]diagnosis[| of this lesion| of the lesion| of the skin lesion| here]",
         "what is this [lesion|skin lesion|mole|spot]", "what type of [lesion|skin lesion] is this",
         "what would [be |]the diagnosis [|be]", "what [lesion|skin lesion] is this", "what does this lesion look like"],
        ["[diagnose|classify] [this|the] [lesion|skin lesion|mole]", "[give me|tell me] the [|most likely ]diagnosis"]),
    "diagnosis_choice": (
        ["is the skin lesion benign or malignant", "is this lesion benign or malignant",
         "is [it|this|the lesion|this mole|the skin lesion] benign or malignant", "benign or malignant",
         "is the lesion malignant or benign", "does [this|the] lesion [look|appear] benign or malignant",
         "is this a benign or [a |]malignant lesion", "would you [call|classify] this lesion [as |]benign or malignant"],
        ["tell me [if|whether] the lesion is benign or malignant", "classify the lesion as benign or malignant"]),
    "region_what": (
        ["what is shown in <region>", "what structure is in <region>",
         "what [is|structure is|organ is|tissue is|anatomy is|can be seen|do you see] [in|inside|at|within] <region>",
         "what is [this|this region|this area|the region|the area|this structure|marked|highlighted] <region>",
         "what [does|do] <region> [show|contain|represent]", "which structure is [in |at |]<region>",
         "what's [in|inside] <region>", "what is <region>", "<region> what is this", "what am i looking at <region>",
         "what is the structure [in|at|under] <region>", "what is located at <region>", "what is marked by <region>",
         "what [did i mark|have i marked|did i select|have i selected|am i pointing at|am i pointing to|did i circle] "
         "[with|in|at|as|here] <region>", "[what is|what's] [this thing|that|that thing|this][ at| in|] <region>",
         "what [do we have|have we got|do i have|is there] [in|at|inside] <region>",
         "what [kind of structure|organ|part|sort of structure] is [this|that|in|at] <region>",
         "<region> is what", "what is [in|inside] the [marked|highlighted|selected|circled] [region|area] <region>"],
        ["identify the structure in <region>", "[identify|name|label] [|the structure in |the organ in |what is in ]<region>",
         "tell me what [is in|is inside|is at] <region>", "tell me what <region> [shows|is]",
         "[identify|name] this [structure|region|area] <region>", "describe [|what is in |the structure in ]<region>",
         "[tell me|say|let me know] what [lies|sits|is found|can be seen] [in|at|inside] <region>",
         "[label|name|identify] what i [marked|selected|circled|drew] [with|as|in] <region>"]),
    "region_abnormal": (
        ["is <region> abnormal", "does <region> show an abnormality", "is there an abnormality in <region>",
         "is the [structure|region|area|tissue] [in|at] <region> abnormal", "is [anything|something] abnormal [in|at|inside] <region>",
         "does <region> [look|appear|seem] abnormal", "does <region> contain [an|any] abnormality",
         "is there [anything wrong|any abnormality|an abnormal finding] [in|at|inside] <region>",
         "is [this|this region|this area|what is in] <region> abnormal", "is <region> pathological",
         "is this abnormal <region>", "any abnormality [in|at] <region>",
         "does <region> show [any disease|a pathology|an abnormal finding|a problem]", "is <region> [diseased|affected]",
         "is there [a problem|any problem|disease|something wrong] [in|at|with|inside] <region>",
         "is what [i marked|i selected|is] [in|at|with] <region> abnormal", "<region> abnormal or not",
         "does the [region|area|tissue|structure] [in|at] <region> [look|seem|appear] abnormal"],
        ["tell me [if|whether] <region> is abnormal", "check [if|whether] <region> [is|looks] abnormal"]),
    "region_identity": (
        ["is <region> the {x}", "does <region> show the {x}", "is the {x} [in|at|inside] <region>",
         "is <region> [showing|on|part of] the {x}", "is [this|this region|this area|this structure] the {x} <region>",
         "does <region> [contain|cover|mark|point to] the {x}", "is the [structure|region|area] [in|at] <region> the {x}",
         "is what is [in|at] <region> the {x}", "is <region> located on the {x}",
         "could <region> be the {x}", "[is it|is that|is this] the {x} [in|at|inside] <region>",
         "[did i mark|have i marked|did i select|am i marking|did i circle] the {x} [with|in|at|as] <region>",
         "does <region> [match|show|belong to|outline|lie on] the {x}", "<region>: is this the {x}",
         "is <region> [over|on top of|covering] the {x}", "<region> the {x} or not"],
        ["tell me [if|whether] <region> is the {x}", "confirm [if|whether] <region> is the {x}",
         "[check|tell me|let me know|say] [if|whether] [the {x} is in|i marked the {x} with|the {x} is at] <region>"]),
    "ground_1": (
        ["where {be} the {x}? please output the segmentation mask",
         "where {be} the {x}? [segment it|show me|mark it|highlight it|outline it|please segment it|give me a mask]",
         "can you find the {x} and segment it", "where {be} the {x} in this image? show it",
         "[segmentation|mask|outline] of the {x}", "{x} [segmentation|mask]",
         "can i see the {x}", "where {be} the {x}? [mark|highlight|outline|show] [it|its outline|its boundary] for me",
         "can you show me where the {x} {be}", "which pixels belong to the {x}", "what does the {x} look like here",
         "[could|can] you [find|locate] the {x} and [mark|highlight|outline] it", "where {be} the {x}? mask it"],
        ["segment the {x}", "segment the {x} in this image",
         f"{_SEG_VERB} the {{x}}{_IN_IMG}", "[segment|outline|show|highlight|mask|find|locate] {x}",
         f"[give me|i need|i want|produce|create|generate|output|make|return|draw] [a|the] {_SEG_NOUN} [of|for] the {{x}}",
         "draw [a mask|a contour|an outline|a line|the boundary] around the {x}", "show me where the {x} {be}",
         "[find|locate] and [segment|outline|mark|highlight] the {x}", "[segment|show] the {x} [region|area]",
         "[segment|show|highlight] all of the {x}",
         "[let me see|i want to see|i would like to see|i'd like to see] [the {x}|where the {x} {be}]",
         "[show|display|give] me [the {x}|a mask of the {x}|the outline of the {x}|where the {x} {be}]",
         "[mark|highlight|outline|segment] [where the {x} {be}|the area of the {x}|the region of the {x}]",
         "put a mask on the {x}", "[trace|draw] the [outline|border|boundary|contour|edges] of the {x}",
         "[find|locate|get] me the {x}", "[segment|outline|mask] the {x} [only|alone]",
         "[highlight|mark|outline|show] the {x} [in colour|in color|with a mask|on the image]"]),
    "ground_2": (
        ["where are the {a} and the {b}? [segment them|show me|mark them|please output the segmentation masks]",
         "can i see the {a} and the {b}", "can you show me where the {a} and the {b} are",
         "where are the {a} and the {b}? [highlight|outline|mask] them [|for me]"],
        ["segment the {a} and the {b}", "segment the {a} and the {b} in this image",
         f"{_SEG_VERB} [the {{a}} and the {{b}}|the {{a}} and {{b}}|both the {{a}} and the {{b}}|the {{a}} as well as the "
         f"{{b}}|the {{a}} and also the {{b}}|the {{a}}, and the {{b}}]{_IN_IMG}", "[segment|outline|show|mask] {a} and {b}",
         f"[give me|i need|produce|create|output|return] [masks|segmentations|{_SEG_NOUN}s] [of|for] the {{a}} and the {{b}}",
         "show me where the {a} and the {b} are", "segment the {a}, then the {b}",
         "[segment|outline|highlight] the {a} first and then the {b}",
         "[show|display|give] me [the {a} and the {b}|where the {a} and the {b} are|masks of the {a} and the {b}]",
         "[let me see|i want to see|i'd like to see] [the {a} and the {b}|where the {a} and the {b} are]",
         "[find|locate] the {a} and the {b} and [mark|highlight|outline|segment] them",
         "[mark|highlight|outline|segment] [each of|both] the {a} and the {b}",
         "[segment|outline|mask] the {a} [together with|along with|plus] the {b}"]),
}

# Wrappers: how people put a request or a question. `{c}` is the phrasing.
REQUEST_WRAPPERS = [
    "{c}", "please {c}", "{c} please", "{c}, please", "{c} for me", "can you {c}", "could you {c}", "can you please {c}",
    "could you please {c}", "would you {c}", "would you please {c}", "please could you {c}", "i want you to {c}",
    "i'd like you to {c}", "i would like you to {c}", "kindly {c}", "go ahead and {c}", "now {c}", "ok, {c}",
    "help me {c}", "can you {c} please", "please, {c}", "i need you to {c}", "{c}, thanks", "{c} thank you",
    "hi, {c}", "could you kindly {c}", "i'd appreciate it if you could {c}", "will you {c}", "just {c}", "try to {c}",
]
QUESTION_WRAPPERS = ["{c}", "{c}", "{c}", "ok, {c}", "so {c}", "hey, {c}", "quick question: {c}", "{c} please",
                     "please, {c}", "and {c}", "now, {c}", "{c}, thanks", "hi, {c}", "tell me, {c}", "one more: {c}"]
CONTEXTS = ["", "", "", "", "", "looking at this image, ", "based on the image, ", "in this image, ", "from this image, ",
            "looking at the scan, "]

# Surface contractions applied to the composed text (and undone by `wording.canonical`).
CONTRACTIONS = [("what is", "what's"), ("where is", "where's"), ("i would", "i'd"), ("it is", "it's"),
                ("there is", "there's")]

# Synonyms users have, per canonical name (singular, plural); never one that could mean another structure.
STRUCTURE_SYNONYMS: dict[str, list[tuple[str, str]]] = {
    "liver lesion": [("hepatic lesion", "hepatic lesions"), ("liver mass", "liver masses")],
    "spine": [("vertebra", "vertebrae"), ("spinal column", "spinal columns"), ("vertebral body", "vertebral bodies")],
    "ventricles": [("lateral ventricles", "lateral ventricles")],
    "tumor": [("tumour", "tumours"), ("brain tumor", "brain tumors"), ("brain mass", "brain masses")],
    "skull": [("cranium", "crania")],
    "heart": [("cardiac silhouette", "cardiac silhouettes")],
    "nodule": [("lung nodule", "lung nodules"), ("pulmonary nodule", "pulmonary nodules")],
    "cyst": [("renal cyst", "renal cysts")],
    "skin lesion": [("mole", "moles"), ("pigmented lesion", "pigmented lesions")],
    "optic disc": [("optic disk", "optic disks"), ("optic nerve head", "optic nerve heads")],
    "macula": [("macular region", "macular regions")],
    "hemorrhage": [("haemorrhage", "haemorrhages"), ("retinal hemorrhage", "retinal hemorrhages"), ("bleed", "bleeds")],
    "polyp": [("colon polyp", "colon polyps"), ("colonic polyp", "colonic polyps")],
    "lumen": [("bowel lumen", "bowel lumens"), ("colon lumen", "colon lumens")],
    "nucleus": [("cell nucleus", "cell nuclei")],
}
MODALITY_SYNONYMS: dict[str, list[str]] = {
    "CT": ["computed tomography", "CT scan", "CAT scan"],
    "MRI": ["MR", "magnetic resonance", "magnetic resonance imaging", "MRI scan"],
    "X-ray": ["x ray", "xray", "radiograph", "radiography", "plain film"],
    "ultrasound": ["sonography", "ultrasonography", "US"],
    "dermoscopy": ["dermatoscopy", "dermoscopic imaging"],
    "fundus": ["fundus photography", "fundoscopy", "retinal photograph"],
    "endoscopy": ["colonoscopy", "endoscopic imaging"],
    "pathology": ["histology", "histopathology", "microscopy"],
}
