"""Tiny source trees with the layout of the Debian packages the preparers read (made at test time, so no
package files are copied into the repository and CI installs nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageDraw

SVG_NS = ('xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/" '
          'xmlns:cc="http://web.resource.org/cc/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"')


def stamp_png(path: Path, colour: str = "red", size: tuple[int, int] = (40, 30)) -> Path:
    """An RGBA PNG: a filled ellipse on a transparent background (like a Tux Paint stamp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((4, 4, size[0] - 5, size[1] - 5), fill=colour)
    image.save(path)
    return path


def metadata_svg(title: str, keywords: list[str], body: str = '<circle cx="50" cy="50" r="30" fill="#2a6"/>',
                 description: str = "") -> str:
    """An SVG with openclipart's RDF metadata block (dc:title, dc:subject/rdf:Bag, dc:description)."""
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<svg {SVG_NS} width="100" height="100" viewBox="0 0 100 100">'
        f'<metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>{title}</dc:title>'
        f"<dc:description>{description}</dc:description>"
        f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>"
        f'<dc:publisher><cc:Agent><dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>'
        f"</cc:Work></rdf:RDF></metadata>{body}</svg>\n"
    )


ILLUSTRATOR_SVG = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [
	<!ENTITY ns_svg "http://www.w3.org/2000/svg">
	<!ENTITY ns_xlink "http://www.w3.org/1999/xlink">
]>
<svg xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;" width="60" height="40" viewBox="0 0 60 40">
<rect x="5" y="5" width="50" height="30" fill="#c33"/></svg>
"""


def tuxpaint_tree(root: Path) -> Path:
    """stamps/: 4 usable stamps (3 PNG, 1 SVG with Illustrator entities), a PNG+SVG pair, a .txt without an
    image, and a stamp that is fully transparent; .dat/.ogg noise like the package's."""
    translations = "fr.utf8=Une grenouille.\nde.utf8=Ein Frosch.\n"
    for folder in ("animals/amphibians", "food", "symbols", "seasonal"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    stamp_png(root / "animals/amphibians/frog.png", "green")
    (root / "animals/amphibians/frog.txt").write_text("A frog.\n" + translations, encoding="utf-8")
    (root / "animals/amphibians/frog.dat").write_text("noflip\n")
    (root / "animals/amphibians/frog_desc.ogg").write_bytes(b"OggS")
    stamp_png(root / "food/apple.png", "red")
    (root / "food/apple.txt").write_text("A red apple.\nes.utf8=Una manzana roja.\n", encoding="utf-8")
    (root / "food/bread.svg").write_text(ILLUSTRATOR_SVG)
    (root / "food/bread.txt").write_text("A loaf of  bread.\n", encoding="utf-8")
    stamp_png(root / "symbols/coin.png", "gold")  # PNG and SVG: the PNG is used
    (root / "symbols/coin.svg").write_text(metadata_svg("coin", []))
    (root / "symbols/coin.txt").write_text("A US 25 cent piece ($.25) called a quarter.\n", encoding="utf-8")
    (root / "seasonal/gift.txt").write_text("A gift.\n", encoding="utf-8")  # no image: skipped
    blank = root / "symbols/blank.png"
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(blank)
    (root / "symbols/blank.txt").write_text("Nothing at all.\n", encoding="utf-8")  # draws nothing: skipped
    return root


def openclipart_tree(root: Path) -> Path:
    """svg/: 4 good drawings (one with an empty title, one Illustrator export), 1 symbolic link to a drawing,
    1 file that is not XML and 1 that draws nothing."""
    files = {
        "animals/cat_01.svg": metadata_svg("Cat", ["animal", "cat", "", "mammal", "cat"],
                                           description="A sitting\n cat."),
        "computer/icons/flat-theme/nexterror.svg": metadata_svg(
            "Part of the Flat Icon Collection (Wed Aug 25 23:29:46 2004)", ["hash", "action", "computer"]),
        "shapes/stars/gramastar_02.svg": metadata_svg("", ["stars", "geometry"]),
        "unsorted/illustrator_export.svg": ILLUSTRATOR_SVG,
        "unsorted/broken.svg": "<svg this is not xml",
        "unsorted/empty.svg": metadata_svg("Empty page", ["nothing"], body=""),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    link = root / "animals/mammal/cat_01.svg"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(root / "animals/cat_01.svg", link.parent), link)
    return root
