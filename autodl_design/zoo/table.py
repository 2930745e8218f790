"""The pretrained models' figures as a Markdown table, kept in pages between two markers.

``autodl-design ensemble --write-manifest`` writes only into the manifest's own folder: besides
``manifest.yaml`` it rewrites the marked block of that folder's ``README.md`` and
``README_cn.md`` (those that exist and hold one), so the accuracies a reader sees there are the
measured ones, never typed. No file outside that folder is touched: pages elsewhere (the
project's top-level READMEs) link to these tables instead of holding a copy::

    <!-- pretrained-table lang=en -->
    (generated table)
    <!-- /pretrained-table -->

``lang`` is ``en`` or ``cn`` (the headers' language).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autodl_design.fileio import rewrite_marked_blocks

_TEXT = {
    "en": {
        "head": (
            "model",
            "architecture key",
            "width / cells per stage",
            "epochs",
            "params",
            "MFLOPs",
            "test accuracy",
            "with flip TTA",
        ),  # fmt: skip
        "ensemble": "ensemble of {n} (averaged softmax)",
        "none": "no models yet",
        "unmeasured": "not measured",
        "source": "Measured on {images:,} images ({test_set}) by "
        "`autodl-design ensemble --write-manifest`; written from `manifest.yaml`. "
        "Test accuracy is plain prediction (one view per image, the headline figure); flip TTA "
        "averages each model's softmax over the image and its mirror (`--tta flip`, twice the "
        "cost).",
    },
    "cn": {
        "head": (
            "模型",
            "结构键",
            "宽度 / 每阶段 cell 数",
            "轮数",
            "参数量",
            "MFLOPs",
            "测试精度",
            "翻转 TTA",
        ),  # fmt: skip
        "ensemble": "{n} 个模型的集成（softmax 平均）",
        "none": "尚无模型",
        "unmeasured": "未测",
        "source": "由 `autodl-design ensemble --write-manifest` 在 {images:,} 张图像（{test_set}）"
        "上测得，从 `manifest.yaml` 写入。测试精度为普通预测"
        "（每张图像一个视图，即主指标）；"
        "翻转 TTA 把每个模型在原图与其水平镜像上的 softmax 取平均"
        "（`--tta flip`，耗时两倍）。",
    },
}


def stage_chain(recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages of a manifest recipe or training record, first stage first: a stage trained
    from an earlier run's weights nests that run's recipe or record in ``init_stage``."""
    chain = []
    while recipe:
        chain.append(recipe)
        recipe = recipe.get("init_stage")
    return chain[::-1]


def stage_epochs(recipe: dict[str, Any]) -> str:
    """Epochs of a manifest recipe, stage by stage from the first: ``"40"``, or ``"40+10"`` for
    a model trained further from its own weights (``init_stage``)."""
    return "+".join(str(stage.get("epochs", "?")) for stage in stage_chain(recipe))


def manifest_table(manifest: dict[str, Any], lang: str = "en") -> str:
    """Markdown table of ``manifest``'s models and ensemble (a read manifest dict)."""
    if lang not in _TEXT:
        raise ValueError(f"table language {lang!r}: expected one of {', '.join(_TEXT)}")
    text = _TEXT[lang]
    models = manifest.get("models") or []
    if not models:
        return text["none"] + "\n"
    rows = ["| " + " | ".join(text["head"]) + " |", "|" + " --- |" * len(text["head"])]
    for m in models:
        net, recipe = m["network"], m["recipe"]
        rows.append(
            f"| {m['name']} | `{m['architecture_key']}` | {net['width']} / "
            f"{net['cells_per_stage']} | {stage_epochs(recipe)} | {m['params']:,} | "
            f"{m['flops'] / 1e6:.1f} | {_percent(m['test_accuracy'])} | "
            f"{_percent(m.get('test_accuracy_flip_tta'))} |"
        )
    ensemble = manifest.get("ensemble")
    if ensemble:
        accuracy = f"**{_percent(ensemble['test_accuracy'])}**"
        flip = f"**{_percent(ensemble.get('test_accuracy_flip_tta'))}**"
    else:
        accuracy = flip = text["unmeasured"]
    label = text["ensemble"].format(n=len(models))
    rows.append(f"| **{label}** | | | | | | {accuracy} | {flip} |")
    table = "\n".join(rows) + "\n"
    if ensemble:
        source = text["source"].format(
            images=ensemble["test_images"], test_set=ensemble["test_set"]
        )
        table += "\n" + source + "\n"
    return table


#: The pages of a manifest's folder that may hold the table, and the only ones ever rewritten.
TABLE_PAGES = ("README.md", "README_cn.md")


def update_readme(path: str | Path, manifest: dict[str, Any]) -> bool:
    """Rewrite every marked block of ``path`` with the table; False if it has none (or no file)."""
    path = Path(path)
    if not path.is_file():
        return False
    count, _ = rewrite_marked_blocks(
        path, "pretrained-table", lambda attrs: manifest_table(manifest, attrs.get("lang", "en"))
    )
    return bool(count)


def update_tables(folder: str | Path, manifest: dict[str, Any]) -> list[Path]:
    """Rewrite the table in the pages of ``folder`` (the manifest's folder) that hold one.

    Only ``folder/README.md`` and ``folder/README_cn.md`` are candidates; a missing page is not
    created. Returns the pages that hold a table block.
    """
    pages = [Path(folder) / name for name in TABLE_PAGES]
    return [page for page in pages if update_readme(page, manifest)]


def _percent(accuracy: float | None) -> str:
    return "?" if accuracy is None else f"{100 * accuracy:.2f}%"
