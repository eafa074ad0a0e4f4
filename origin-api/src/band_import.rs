//! Parsing a band CSV: `band_id[,label][,status][,override_url]` with a
//! header row naming the columns (any order). Every row is checked and every
//! bad row reported by line and reason; the caller stores nothing unless the
//! whole file is clean.
//!
//! Cells are data, never formulas: a label such as `=cmd|'/C calc'!A0` is
//! stored verbatim and neutralised wherever we write CSV back out
//! ([`spreadsheet_safe`]); band ids cannot start with a formula character.

use shared::BandId;

use crate::domain::bands::{BandStatus, MAX_IMPORT, NewBand, RowError};
use crate::domain::validate;

/// Largest accepted file.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

/// A parsed file: the good rows and the bad ones (each with its line).
#[derive(Debug, Default)]
pub struct Parsed {
    /// Rows that passed every per-row rule.
    pub bands: Vec<NewBand>,
    /// Rows that did not.
    pub errors: Vec<RowError>,
}

/// Parses `bytes`. `Err` is a problem with the file as a whole (no header,
/// too large, no rows); row problems are in [`Parsed::errors`], next to the
/// good rows, so duplicates among those can still be reported in the same pass.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Vec<RowError>> {
    let fail = |line: u64, reason: &str| Err(vec![RowError { line, band_id: None, reason: reason.into() }]);
    if bytes.len() > MAX_FILE_BYTES {
        return fail(0, &format!("file is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024)));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::new(bytes);
    let mut next = |record: &mut csv::ByteRecord| {
        let line = lines.line_at(reader.position().byte());
        reader.read_byte_record(record).map(|more| more.then_some(line)).map_err(|e| (line, e))
    };

    let columns = match next(&mut record) {
        Ok(Some(_)) => match Columns::from_header(&record) {
            Ok(c) => c,
            Err(reason) => return fail(1, &reason),
        },
        Ok(None) => return fail(1, "file is empty: expected a header row with band_id"),
        Err((_, e)) => return fail(1, &format!("unreadable header: {e}")),
    };

    let mut bands = Vec::new();
    let mut errors = Vec::new();
    loop {
        let line = match next(&mut record) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err((line, e)) => {
                errors.push(RowError { line, band_id: None, reason: format!("unreadable row: {e}") });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        };
        if record.iter().all(<[u8]>::is_empty) {
            continue; // blank line
        }
        if bands.len() + errors.len() >= MAX_IMPORT {
            return fail(line, &format!("more than {MAX_IMPORT} rows"));
        }
        match columns.row(line, &record) {
            Ok(band) => bands.push(band),
            Err(e) => errors.push(e),
        }
        if errors.len() >= 1000 {
            errors.push(RowError { line, band_id: None, reason: "too many errors; stopped reading".into() });
            break;
        }
    }
    if bands.is_empty() && errors.is_empty() {
        return fail(2, "no bands in file");
    }
    Ok(Parsed { bands, errors })
}

/// Line numbers from byte offsets, counted incrementally (offsets only grow).
///
/// The reader's own line count lags by one after a CRLF, because it stops
/// at the `\r` and consumes the `\n` with the next record.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0, line: 1 }
    }

    /// The line of the first content byte at or after `offset`.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        while matches!(self.bytes.get(offset as usize), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        let target = (offset as usize).min(self.bytes.len());
        if target > self.offset {
            // A line ends at `\n`, or at a `\r` not followed by `\n` (classic Mac files).
            let span = &self.bytes[self.offset..target];
            let breaks = span
                .iter()
                .enumerate()
                .filter(|(i, b)| match b {
                    b'\n' => true,
                    b'\r' => self.bytes.get(self.offset + i + 1) != Some(&b'\n'),
                    _ => false,
                })
                .count();
            self.line += breaks as u64;
            self.offset = target;
        }
        self.line
    }
}

struct Columns {
    band_id: usize,
    label: Option<usize>,
    status: Option<usize>,
    override_url: Option<usize>,
    width: usize,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> Result<Self, String> {
        let mut cols = Columns {
            band_id: usize::MAX,
            label: None,
            status: None,
            override_url: None,
            width: header.len(),
        };
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| "header is not UTF-8".to_string())?
                .trim()
                .to_ascii_lowercase();
            let slot = match name.as_str() {
                "band_id" | "band" | "id" => {
                    if cols.band_id != usize::MAX {
                        return Err("column band_id appears twice".into());
                    }
                    cols.band_id = i;
                    continue;
                }
                "label" | "name" => &mut cols.label,
                "status" => &mut cols.status,
                "override_url" | "url" => &mut cols.override_url,
                other => {
                    return Err(format!(
                        "unknown column {other:?}: expected band_id, label, status, override_url"
                    ));
                }
            };
            if slot.replace(i).is_some() {
                return Err(format!("column {name} appears twice"));
            }
        }
        if cols.band_id == usize::MAX {
            return Err("header must name a band_id column".into());
        }
        Ok(cols)
    }

    fn row(&self, line: u64, record: &csv::ByteRecord) -> Result<NewBand, RowError> {
        let err = |band_id: Option<&str>, reason: String| RowError {
            line,
            band_id: band_id.map(str::to_string),
            reason,
        };
        if record.len() != self.width {
            return Err(err(None, format!("expected {} columns, found {}", self.width, record.len())));
        }
        let cell = |i: Option<usize>| -> Result<&str, RowError> {
            match i.and_then(|i| record.get(i)) {
                None => Ok(""),
                Some(raw) => std::str::from_utf8(raw).map_err(|_| err(None, "not valid UTF-8".into())),
            }
        };
        let raw_id = cell(Some(self.band_id))?;
        let band_id = BandId::parse(raw_id)
            .map_err(|e| err(Some(&printable(raw_id)), format!("invalid band id: {e}")))?;
        let id = Some(band_id.as_str());
        let label =
            validate::optional_text("label", cell(self.label)?, 200).map_err(|e| err(id, e.to_string()))?;
        let status = BandStatus::parse(cell(self.status)?).map_err(|e| err(id, e.to_string()))?;
        let override_url = validate::optional_destination("override_url", Some(cell(self.override_url)?))
            .map_err(|e| err(id, e.to_string()))?;
        Ok(NewBand { line, band_id, label, status, override_url })
    }
}

/// A rejected cell as it may be echoed to a terminal or page: control
/// characters escaped (no terminal escape sequences, no forged report lines),
/// at most 40 characters.
fn printable(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().take(40) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if raw.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A cell made safe for spreadsheets: text that a spreadsheet would run as a
/// formula (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading apostrophe.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(csv: &str) -> Vec<RowError> {
        match parse(csv.as_bytes()) {
            Ok(parsed) => parsed.errors,
            Err(fatal) => fatal,
        }
    }

    #[test]
    fn parses_columns_in_any_order_with_bom_and_crlf() {
        let bands =
            parse(b"\xEF\xBB\xBFlabel,band_id,status\r\nGate A,demo0001,lost\r\nGate B,DEMO0002,\r\n\r\n")
                .unwrap()
                .bands;
        assert_eq!(bands.len(), 2);
        assert_eq!(bands[0].band_id.as_str(), "DEMO0001");
        assert_eq!(bands[0].status, BandStatus::Lost);
        assert_eq!(bands[0].line, 2);
        assert_eq!(bands[1].status, BandStatus::Active);
        assert_eq!(bands[1].label, "Gate B");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let e = errors(
            "band_id,override_url\nOK000001,\nab,\nOK000002,http://plain.example\n\"unterminated,\nOK000003,https://x.example,extra\n",
        );
        let lines: Vec<u64> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5], "{e:?}");
        assert!(e[0].reason.contains("invalid band id"));
        assert!(e[1].reason.contains("https"));
    }

    #[test]
    fn formula_cells_are_refused_as_ids_and_kept_inert_as_labels() {
        let e = errors("band_id,label\n=cmd|' /C calc'!A0,x\n");
        assert_eq!(e[0].line, 2);
        assert!(e[0].reason.contains("invalid band id"));
        let bands = parse(b"band_id,label\nSAFE0001,=cmd|' /C calc'!A0\n").unwrap().bands;
        assert_eq!(bands[0].label, "=cmd|' /C calc'!A0");
        assert_eq!(spreadsheet_safe(&bands[0].label), "'=cmd|' /C calc'!A0");
        assert_eq!(spreadsheet_safe("Gate A"), "Gate A");
    }

    #[test]
    fn line_numbers_follow_cr_only_files_and_echoes_are_escaped() {
        let e = errors("band_id\rOK000001\rab\rOK000002\r\u{1b}[31mX\r");
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(e[1].band_id.as_deref(), Some("\\u{1b}[31mX"));
    }

    #[test]
    fn headers_are_required_and_checked() {
        assert!(errors("")[0].reason.contains("empty"));
        assert!(errors("DEMO0001\n")[0].reason.contains("band_id"));
        assert!(errors("band_id,colour\nDEMO0001,red\n")[0].reason.contains("unknown column"));
        assert!(errors("band_id\n")[0].reason.contains("no bands"));
        assert!(parse(b"band_id,label\n\xff\xfe,x\n").unwrap().errors[0].reason.contains("UTF-8"));
    }
}
