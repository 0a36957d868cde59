"""Document fixtures generated at test time (reportlab, python-docx, python-pptx): no binaries in the repo."""

from __future__ import annotations

from pathlib import Path


def write_pdf(path: Path, pages: list[tuple[str, str]]) -> Path:
    """A PDF with one (heading, body) per page, real text layer."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    for heading, body in pages:
        c.setFont("Helvetica-Bold", 18)
        c.drawString(72, 720, heading)
        c.setFont("Helvetica", 11)
        c.drawString(72, 690, body)
        c.showPage()
    c.save()
    return path


def write_blank_pdf(path: Path) -> Path:
    """A valid PDF without any text (what a scanned document looks like without OCR)."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    c.rect(100, 100, 200, 200)
    c.showPage()
    c.save()
    return path


def write_docx(path: Path, sections: list[tuple[str, str]]) -> Path:
    import docx

    document = docx.Document()
    for heading, body in sections:
        document.add_heading(heading, 1)
        document.add_paragraph(body)
    document.save(str(path))
    return path


def write_pptx(path: Path, slides: list[tuple[str, str]]) -> Path:
    import pptx

    deck = pptx.Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))
    return path


def write_corpus(folder: Path) -> dict[str, Path]:
    """One file of every supported format, each about a distinct topic; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "pdf": write_pdf(folder / "solar.pdf", [("Solar Panels", "Photovoltaic cells convert sunlight into power."),
                                                ("Batteries", "Lithium batteries store the energy for the night.")]),
        "docx": write_docx(folder / "garden.docx", [("Gardening", "Tomatoes need sun and regular water."),
                                                    ("Pests", "Aphids eat the young leaves of roses.")]),
        "pptx": write_pptx(folder / "results.pptx", [("Quarterly results", "Revenue grew by ten percent.")]),
    }
    texts = {
        "txt": ("notes.txt", "Meeting notes\n\nThe team agreed to ship the release on Friday after the review.\n"),
        "md": ("guide.md", "# Guide\n\nInstall the tool with pip before you start.\n\n## Usage\n\n"
                           "Run the command on a folder of documents.\n"),
        "rst": ("intro.rst", "Astronomy\n=========\n\nThe moon orbits the earth every twenty-seven days.\n"),
        "html": ("cats.html", "<html><body><h1>Cats</h1><p>Cats sleep most of the day.</p>"
                              "<h2>Food</h2><p>They like to eat fish.</p></body></html>"),
        "htm": ("dogs.htm", "<html><body><h1>Dogs</h1><p>Dogs enjoy long walks in the park.</p></body></html>"),
        "csv": ("cities.csv", "city,country,population\nParis,France,2100000\nRome,Italy,2800000\n"),
        "json": ("config.json", '{"service": {"name": "billing", "owners": ["ana", "bo"]}}'),
        "eml": ("mail.eml", "From: ana@example.com\nTo: bo@example.com\nSubject: Budget\n"
                            "Content-Type: text/plain\n\nThe budget for the trip was approved yesterday.\n"),
    }
    for kind, (name, text) in texts.items():
        files[kind] = folder / name
        files[kind].write_text(text, encoding="utf-8")
    return files
