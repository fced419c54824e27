"""Image folders: ``root/<class>/*.png|jpg|jpeg``, or ``root/<split>/<class>/...``.

The source is a folder or a tar archive (``.tar``, ``.tar.gz``, ``.tgz``, ...), read as
a stream without extracting it. Inside an archive the class folders may sit below a
common prefix (``cifar10/train/cat/0001.jpg``): the layout is inferred from the
paths. A split layout is recognised when the folder above the class folders is one of
``SPLIT_NAMES`` (``train``, ``test``, ``val``, ...). Class names are the class folders
of *all* splits, sorted, so a label means the same class in every split. Examples
come out sorted by (class, path): class-sorted, so shuffle before taking a validation
slice (``jaxdl.data.load`` applies a seeded permutation for this reason).

What is refused, what is skipped. A class folder without any image is an error naming
it (it would silently drop a class). Files without a ``.png``/``.jpg``/``.jpeg``
extension are skipped with one ``UserWarning`` giving their count and first names
(hidden files and ``__MACOSX`` debris are skipped silently); an image file that cannot be
decoded is an error naming it, never skipped. 16-bit greyscale images (PIL modes
``I;16*``, and ``I`` within 0..65535) are scaled to 8 bits, ``round(v * 255 / 65535)``
(not truncated); ``I`` values outside 0..65535 are an error.

Decoding tens of thousands of JPEGs takes a while, so the decoded arrays are cached as
``.npz`` in ``$JAXDL_CACHE_DIR`` (default ``~/.cache/jaxdl``), keyed by the source's
absolute path, size and modification time (for a folder: every image's path, size and
modification time) plus the split and ``image_size``. Cache files are written to a
temporary name and renamed, so a crash never leaves a half-written cache behind.
"""

import hashlib
import io
import json
import os
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "SPLIT_NAMES", "cache_dir", "read_image_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLIT_NAMES = frozenset(
    {"train", "test", "val", "valid", "validation", "extra", "unlabelled", "unlabeled"}
)
_CACHE_VERSION = 2  # bump when the decoded content for the same key would change
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})

Entry = tuple[tuple[str, ...], Callable[[], bytes]]  # (path parts, bytes getter)


def cache_dir() -> Path:
    """The decoded-array cache folder: ``$JAXDL_CACHE_DIR`` or ``~/.cache/jaxdl``."""
    return Path(os.environ.get("JAXDL_CACHE_DIR") or Path.home() / ".cache" / "jaxdl")


def _hidden(parts: tuple[str, ...]) -> bool:
    """Hidden files and macOS archive debris (._x.jpg, __MACOSX/)."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _is_image(parts: tuple[str, ...]) -> bool:
    return not _hidden(parts) and parts[-1].lower().endswith(IMAGE_EXTENSIONS)


class _Listing(NamedTuple):
    entries: list[Entry]
    dirs: set[tuple[str, ...]]  # every (non-hidden) folder, as path parts
    skipped: list[str]  # non-hidden files that are not images


def _list_folder(root: Path) -> tuple[_Listing, list[tuple]]:
    listing, stats = _Listing([], set(), []), []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not _hidden((d,)))
        rel = Path(dirpath).relative_to(root).parts
        if rel:
            listing.dirs.add(rel)
        for fname in sorted(filenames):
            path, parts = Path(dirpath) / fname, (*rel, fname)
            if _is_image(parts):
                listing.entries.append((parts, path.read_bytes))
                st = path.stat()
                stats.append(("/".join(parts), st.st_size, st.st_mtime_ns))
            elif not _hidden(parts):
                listing.skipped.append("/".join(parts))
    return listing, stats


def _list_archive(path: Path) -> _Listing:
    """One streaming pass over the archive; image bytes are kept in memory."""
    listing = _Listing([], set(), [])
    try:
        with tarfile.open(path, "r|*") as tf:
            for member in tf:
                parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
                if not parts or _hidden(parts):
                    continue
                if member.isdir():
                    listing.dirs.add(parts)
                elif member.isfile() and _is_image(parts):
                    data = tf.extractfile(member).read()
                    listing.entries.append((parts, lambda data=data: data))
                elif member.isfile():
                    listing.skipped.append("/".join(parts))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(
            f"{path} is neither a folder nor a readable tar archive ({e}); expected "
            "root/<class>/*.png|jpg or a .tar/.tar.gz of that layout."
        ) from e
    return listing


def _shown(names: list[str], limit: int = 5) -> str:
    more = f", ... (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check(listing: _Listing, source: Path) -> bool:
    """Whether the layout has split folders; refuses empty class folders, warns of
    skipped files."""
    skipped = ""
    if listing.skipped:
        skipped = (
            f"{len(listing.skipped)} file(s) without a {'/'.join(IMAGE_EXTENSIONS)} "
            f"extension skipped in {source}: {_shown(listing.skipped)}"
        )
    entries = listing.entries
    if not entries:
        raise ValueError(
            f"No {'/'.join(IMAGE_EXTENSIONS)} images found in {source}"
            + (f" ({skipped})." if skipped else ".")
        )
    if skipped:
        warnings.warn(skipped + ".", stacklevel=3)
    has_split, prefix = _layout(entries, source)
    depth = len(entries[0][0])
    classes = {
        d
        for d in listing.dirs
        if len(d) == depth - 1
        and d[: len(prefix)] == prefix
        and (not has_split or d[-2] in SPLIT_NAMES)
    }
    empty = sorted("/".join(d) for d in classes - {p[:-1] for p, _ in entries})
    if empty:
        raise ValueError(
            f"Class folder(s) without any {'/'.join(IMAGE_EXTENSIONS)} image in {source}: "
            f"{_shown(empty)}. Add the images (an incomplete copy?) or remove the folder(s)."
        )
    return has_split


def _layout(entries: list[Entry], source: Path) -> tuple[bool, tuple[str, ...]]:
    """(has split folders, common prefix); checks that every image sits at one depth."""
    depths = sorted({len(p) for p, _ in entries})
    if len(depths) > 1 or depths[0] < 2:
        raise ValueError(
            f"Images in {source} sit at different depths {depths} (or outside class folders). "
            "Expected root/<class>/<image> or root/<split>/<class>/<image>."
        )
    depth = depths[0]
    has_split = depth >= 3 and {p[-3] for p, _ in entries} <= SPLIT_NAMES
    prefixes = {p[: depth - (3 if has_split else 2)] for p, _ in entries}
    if len(prefixes) > 1:
        shown = sorted("/".join(p) for p in prefixes)[:4]
        raise ValueError(
            f"Ambiguous layout in {source}: class folders sit under several parents {shown}. "
            f"Expected root/<class>/<image>, or root/<split>/<class>/<image> with split folders "
            f"named from {sorted(SPLIT_NAMES)}."
        )
    return has_split, next(iter(prefixes))


def _decode(data: bytes, name: str, image_size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image  # imported lazily: only image folders need it

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = _to_8_bits(im, name)
            if image_size is not None and im.size != (image_size[1], image_size[0]):
                im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            return np.asarray(im, np.uint8)
    except OSError as e:
        raise ValueError(f"Cannot decode image {name}: {e}") from e


def _to_8_bits(im, name: str):
    """L or RGB; 16-bit greyscale scaled by 255 / 65535 (PIL's convert would clip at 255)."""
    from PIL import Image

    if not (im.mode.startswith("I;16") or im.mode == "I"):
        return im.convert("L" if im.mode in _GRAY_MODES else "RGB")
    a = np.asarray(im)  # uint16 (I;16*) or int32 (I)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(
            f"Image {name}: mode {im.mode} values {a.min()}..{a.max()} are outside the 16-bit "
            "range 0..65535 this reader scales to 8 bits; convert it to 8-bit PNG first."
        )
    return Image.fromarray(((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8), "L")


def _stack(arrays: list[np.ndarray], names: list[str], source: Path) -> np.ndarray:
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        first = next(n for n, a in zip(names, arrays) if a.shape[:2] != arrays[0].shape[:2])
        raise ValueError(
            f"Images in {source} differ in size ({names[0]} is {arrays[0].shape[:2]}, {first} "
            "is not); pass image_size=(H, W) to resize them all."
        )
    if any(a.ndim == 3 for a in arrays):  # any colour image: grey ones get 3 equal channels
        arrays = [a if a.ndim == 3 else np.repeat(a[..., None], 3, -1) for a in arrays]
    out = np.stack(arrays)  # [N, H, W(, C)]
    return out if out.ndim == 4 else out[..., None]


def _cache_file(key: list, source: Path, split: str | None) -> Path:
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]
    return cache_dir() / f"image_folder-{source.name}-{split or 'all'}-{digest}.npz"


def _cache_read(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {"image": z["image"], "label": z["label"]}
            return data, tuple(str(c) for c in z["class_names"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        warnings.warn(f"Ignoring unreadable cache file {path} ({e}); decoding again.", stacklevel=3)
        return None


def _cache_write(path: Path, data: dict[str, np.ndarray], class_names: tuple[str, ...]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, class_names=np.array(class_names, dtype=str), **data)
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the whole new one
    except OSError as e:
        warnings.warn(f"Could not write the decoded-image cache {path}: {e}", stacklevel=3)
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def read_image_folder(
    path: str | os.PathLike,
    split: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    cache: bool = True,
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Reads and decodes an image-folder dataset (a folder or a tar archive).

    Args:
      path: ``root`` folder, or a ``.tar`` / ``.tar.gz`` archive of it.
      split: the split folder to read (``'train'``, ``'test'``, ...) when the layout has
        split folders (then required); for a layout without split folders, ``None`` or
        ``'train'`` both mean every image.
      image_size: ``(H, W)`` to resize every image to (bilinear); ``None`` requires all
        images to have the same size.
      cache: read/write decoded arrays in ``cache_dir()``.

    Returns:
      ``({'image': uint8 [N, H, W, C], 'label': int32 [N]}, class_names)`` with examples
      sorted by (class, path); C is 1 when every image is greyscale, else 3 (alpha
      dropped).

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: unknown split, ambiguous layout, a class folder without images,
        undecodable or differently sized images, 32-bit values outside 0..65535.

    Warns:
      UserWarning: files without an image extension were skipped (count, first names).

    Example:
      >>> import tempfile
      >>> from pathlib import Path
      >>> from PIL import Image
      >>> root = Path(tempfile.mkdtemp())
      >>> for name in ("test/cat/0.png", "test/cat/1.png", "test/dog/0.png"):
      ...     (root / name).parent.mkdir(parents=True, exist_ok=True)
      ...     Image.new("RGB", (8, 8), "red").save(root / name)
      >>> data, classes = read_image_folder(root, "test", cache=False)
      >>> data["image"].shape, data["label"], classes
      ((3, 8, 8, 3), array([0, 0, 1], dtype=int32), ('cat', 'dog'))
    """
    source = Path(path).expanduser().absolute()
    if not source.exists():
        raise FileNotFoundError(f"Image folder {source} does not exist.")
    size = None if image_size is None else tuple(int(s) for s in image_size)
    listing = None
    if source.is_dir():  # checked before the cache: a later empty class folder is reported
        listing, stats = _list_folder(source)
        has_split = _check(listing, source)
        key = [_CACHE_VERSION, str(source), split, size, stats]
    else:
        st = source.stat()
        key = [_CACHE_VERSION, str(source), split, size, st.st_size, st.st_mtime_ns]
    cache_path = _cache_file(key, source, split) if cache else None
    hit = None if cache_path is None else _cache_read(cache_path)
    if hit is not None:
        return hit
    if listing is None:
        listing = _list_archive(source)
        has_split = _check(listing, source)
    entries = listing.entries
    class_names = tuple(sorted({p[-2] for p, _ in entries}))
    if has_split:
        splits = sorted({p[-3] for p, _ in entries})
        if split not in splits:
            raise ValueError(
                f"{source} has split folders {splits}; choose one of them (got {split!r})."
            )
        entries = [e for e in entries if e[0][-3] == split]
    elif split not in (None, "train"):
        raise ValueError(
            f"{source} has no split folders (layout root/<class>/<image>), so it only has the "
            f"split 'train' (all images); got {split!r}. Slice it, e.g. 'train[90%:]'."
        )
    entries.sort(key=lambda e: (e[0][-2], e[0]))
    names = ["/".join(p) for p, _ in entries]
    arrays = [_decode(get(), name, size) for (_, get), name in zip(entries, names)]
    index = {c: i for i, c in enumerate(class_names)}
    data = {
        "image": _stack(arrays, names, source),
        "label": np.array([index[p[-2]] for p, _ in entries], np.int32),
    }
    if cache_path is not None:
        _cache_write(cache_path, data, class_names)
    return data, class_names
