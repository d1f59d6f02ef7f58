//! Every character the desk draws is in the font it ships. A Windows front-desk PC may have no
//! fallback font, so a glyph missing there shows as a box (the first Windows run showed one
//! for a ☎ before the phone digits).

use std::path::{Path, PathBuf};

fn shipped_fonts() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fonts");
    ["Pretendard-Regular.otf", "Pretendard-Bold.otf"]
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).expect("the shipped font");
            (name.to_owned(), bytes)
        })
        .collect()
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_character_in_the_desks_text_is_in_the_shipped_font() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 5, "{files:?}");
    let mut used = std::collections::BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source");
        for line in text.lines() {
            // Comments are not drawn.
            if line.trim_start().starts_with("//") {
                continue;
            }
            for c in line.chars().filter(|c| !c.is_ascii()) {
                used.entry(c).or_insert_with(|| file.clone());
            }
        }
    }
    assert!(
        used.contains_key(&'입'),
        "no Korean text found in the desk's sources"
    );
    for (name, bytes) in shipped_fonts() {
        let face = ttf_parser::Face::parse(&bytes, 0).expect("a font");
        let missing: Vec<_> = used
            .iter()
            .filter(|(c, _)| face.glyph_index(**c).is_none())
            .map(|(c, file)| format!("{c} (U+{:04X}) in {}", *c as u32, file.display()))
            .collect();
        assert!(missing.is_empty(), "{name} lacks: {missing:?}");
    }
}

/// Members' names come from the server: any of the 11,172 Hangul syllables can appear.
#[test]
fn the_shipped_font_has_every_hangul_syllable() {
    for (name, bytes) in shipped_fonts() {
        let face = ttf_parser::Face::parse(&bytes, 0).expect("a font");
        let missing = ('가'..='힣')
            .filter(|c| face.glyph_index(*c).is_none())
            .count();
        assert_eq!(missing, 0, "{name} lacks {missing} syllables");
    }
}
