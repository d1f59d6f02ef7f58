//! CSV files the server writes (import reports now; settlements later). They are opened in
//! Excel by people who trust them, so no cell may run as a formula: a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which Excel shows as text
//! (OWASP's advice against CSV injection). Files start with a UTF-8 byte order mark so Excel
//! reads Hangul as Hangul instead of guessing the legacy code page.

use std::borrow::Cow;

/// The cell as it is safe to write.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A whole CSV file: BOM, header, rows; every cell made safe and quoted as needed.
pub fn to_csv<I, R>(header: &[&str], rows: I) -> Result<Vec<u8>, csv::Error>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer.write_record(
            header
                .iter()
                .map(|h| safe_cell(h))
                .collect::<Vec<_>>()
                .iter()
                .map(|c| c.as_ref()),
        )?;
        for row in rows {
            let cells: Vec<String> = row
                .into_iter()
                .map(|c| safe_cell(&c).into_owned())
                .collect();
            writer.write_record(&cells)?;
        }
        writer.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_the_rest_is_untouched() {
        for formula in ["=1+1", "+82 10", "-2+3", "@SUM(A1)", "\t=x", "\r=x"] {
            assert!(safe_cell(formula).starts_with('\''), "{formula:?}");
        }
        for plain in ["김민준", "010-1234", "1+1", "", "a=b"] {
            assert_eq!(safe_cell(plain), plain);
        }
    }

    #[test]
    fn files_start_with_a_bom_and_quote_what_needs_it() {
        let out = to_csv(
            &["line", "message"],
            [vec![
                "2".to_owned(),
                "=HYPERLINK(\"http://x\",\"클릭\")".to_owned(),
            ]],
        )
        .expect("csv");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with('\u{feff}'));
        assert_eq!(
            text.trim_start_matches('\u{feff}'),
            "line,message\n2,\"'=HYPERLINK(\"\"http://x\"\",\"\"클릭\"\")\"\n"
        );
    }
}
