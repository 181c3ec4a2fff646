"""Dataset plugins for the real MER releases (SMIC, CASME II, SAMM, CAS(ME)3, MMEW, 4DME), MEGC2019 and CSV manifests.

Users bring their own licensed copies; each loader reads the release's own
layout (see ``docs/datasets.md``), never writes inside it, and records skipped
or repaired rows in ``Dataset.summary``. Also registers the ``image``
preprocessor that reads a manifest's precomputed images. Factories are lazy
``"module:attr"`` strings, so listing plugins imports no loader.
"""

from merbench.contracts import DatasetPlugin, PreprocessorPlugin
from merbench.hookspecs import hookimpl

_HERE = "merbench_plugins.datasets"
_STRICT = {"strict": False}


@hookimpl
def merbench_register_datasets(register):
    """Register ``smic``, ``casme2``, ``samm``, ``megc2019``, ``casme3``, ``mmew``, ``4dme`` and ``manifest``."""
    register(
        DatasetPlugin(
            name="smic",
            load=f"{_HERE}.smic:load",
            option_ranges={"subset": ("hs", "vis", "nir")},
            description="SMIC (HS, VIS or NIR): HS/s1/micro/negative/s1_ne_01/*.bmp; 3 classes; no apex (middle frame)",
            options={"subset": "hs", "fixes": "known", **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="casme2",
            load=f"{_HERE}.casme2:load",
            option_ranges={"classes": ("5", "3", "all"), "frames": ("auto", "raw", "cropped")},
            description="CASME II: CASME2-coding-*.xlsx + CASME2_RAW_selected/ or Cropped/; 5, 3 or all classes",
            options={"classes": "5", "frames": "auto", "fixes": "known", **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="samm",
            load=f"{_HERE}.samm:load",
            option_ranges={"classes": ("5", "3", "all")},
            description="SAMM: SAMM_Micro_FACS_Codes_v2.xlsx + SAMM/006/006_1_2/*.jpg; 5, 3 or all classes",
            options={"classes": "5", "fixes": "known", **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="megc2019",
            load=f"{_HERE}.megc2019:load",
            option_ranges={"casme2_frames": ("auto", "raw", "cropped")},
            description="MEGC2019 composite of SMIC-HS + CASME II + SAMM, 3 classes, domain per part; the official 442-sample list",
            options={"smic": "", "casme2": "", "samm": "", "casme2_frames": "auto", "list": "official", "fixes": "known",
                     **_STRICT},
            needs_root=False,
        )
    )
    register(
        DatasetPlugin(
            name="casme3",
            load=f"{_HERE}.casme3:load",
            description="CAS(ME)3 Part A MEs: *part_A_ME_label_JpgIndex_v2.xlsx + spNO.1/a/color/N.jpg or Part_A_ME_clip/; "
            "7, 4 or 3 classes",
            options={"classes": "7", "frames": "auto", "frames_folder": "", "fixes": "known", "occluded": "keep",
                     **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="mmew",
            load=f"{_HERE}.mmew:load",
            description="MMEW micro-expressions: MMEW_Micro_Exp.xlsx + Micro_Expression/happiness/S01-01-001/1.jpg; "
            "7, 6, 4 or 3 classes",
            options={"classes": "7", "fixes": "known", **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="4dme",
            load=f"{_HERE}.fourdme:load",
            description="4DME: 4DME_Labelling_Micro_release v1.xlsx + gray_micro/S01/<fold_name>/; 5 or 3 objective classes, "
            "multi-label rows",
            options={"classes": "5", "frames": "auto", "multilabel": "skip", "fixes": "known", **_STRICT},
        )
    )
    register(
        DatasetPlugin(
            name="manifest",
            load=f"{_HERE}.manifest:load",
            gives=f"{_HERE}.manifest:gives",
            description="CSV of subject, label, [domain], and path (precomputed image) or onset+apex frames",
            options={"manifest": "", "classes": [], **_STRICT},
        )
    )


@hookimpl
def merbench_register_preprocessors(register):
    """Register ``image``: a precomputed 3-channel image file (e.g. u/v/strain flow) as model input."""
    register(
        PreprocessorPlugin(
            name="image",
            build=f"{_HERE}.image:ImagePreprocessor",
            option_ranges={"size": ">= 0", "order": ("rgb", "bgr")},
            description="A precomputed 3-channel image (manifest path rows, e.g. flow images) as model input, 0..1",
            produces="flow-uvs",
            options={"size": 0, "order": "rgb"},
        )
    )
