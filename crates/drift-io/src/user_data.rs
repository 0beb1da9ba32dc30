//! Reading users' own data files (Parquet, CSV, NPY) into a numeric table, with errors that
//! name the file, the row and the column.
//!
//! Rows are numbered from 1 in the order they appear (for CSV, the header is line 1, so data
//! row `r` is on line `r + 1`; messages give both). Every numeric type converts to `f64`
//! exactly (64-bit integers beyond 2^53 round); text columns are skipped unless selected, and
//! a selected text column is an error.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::IoError;

/// A user data file's format (the spec's `FileParams::format_in_force` decides which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    Npy,
}

/// Numeric columns of a user file: `values` is row-major `rows x columns.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericTable {
    pub columns: Vec<String>,
    pub rows: usize,
    pub values: Vec<f64>,
    /// Text (non-numeric) columns that were present and left out.
    pub skipped: Vec<String>,
}

impl NumericTable {
    /// Keeps `wanted` columns in that order; an unknown name is [`IoError::UnknownColumn`]
    /// (naming the file, the column and every numeric column).
    pub fn select(&self, wanted: &[String], path: &Path) -> Result<NumericTable, IoError> {
        let mut index = Vec::with_capacity(wanted.len());
        for name in wanted {
            match self.columns.iter().position(|c| c == name) {
                Some(i) => index.push(i),
                None if self.skipped.contains(name) => {
                    return Err(IoError::data(
                        path,
                        format!("column `{name}` is not numeric"),
                    ));
                }
                None => {
                    return Err(IoError::UnknownColumn {
                        path: path.to_path_buf(),
                        column: name.clone(),
                        columns: self.columns.clone(),
                    });
                }
            }
        }
        let width = self.columns.len();
        let mut values = Vec::with_capacity(self.rows * index.len());
        for r in 0..self.rows {
            values.extend(index.iter().map(|&i| self.values[r * width + i]));
        }
        Ok(NumericTable {
            columns: wanted.to_vec(),
            rows: self.rows,
            values,
            skipped: Vec::new(),
        })
    }

    /// The first NaN or infinite value, as an error naming the file, row (from 1) and column.
    pub fn check_finite(&self, path: &Path) -> Result<(), IoError> {
        let width = self.columns.len().max(1);
        match self.values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(k) => Err(IoError::data(
                path,
                format!(
                    "row {} column `{}` is {} (drift needs finite values)",
                    k / width + 1,
                    self.columns[k % width],
                    self.values[k]
                ),
            )),
        }
    }
}

/// Reads a whole user file: its numeric table and the BLAKE3 digest of exactly the bytes read.
pub fn read_numeric_file(
    path: &Path,
    format: FileFormat,
) -> Result<(NumericTable, blake3::Hash), IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::fs(path, "read", e))?;
    let digest = blake3::hash(&bytes);
    Ok((read_numeric_bytes(bytes, format, path)?, digest))
}

/// Parses a user file's bytes; `path` only names it in errors.
pub fn read_numeric_bytes(
    bytes: Vec<u8>,
    format: FileFormat,
    path: &Path,
) -> Result<NumericTable, IoError> {
    let table = match format {
        FileFormat::Parquet => parquet_table(bytes, path)?,
        FileFormat::Csv => csv_table(&bytes, path)?,
        FileFormat::Npy => npy_table(&bytes, path)?,
    };
    if table.columns.is_empty() {
        return Err(IoError::data(path, "has no numeric column"));
    }
    Ok(table)
}

fn parquet_table(bytes: Vec<u8>, path: &Path) -> Result<NumericTable, IoError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).map_err(|source| {
            IoError::NotParquet {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let schema = builder.schema().clone();
    let mut columns = Vec::new();
    let mut skipped = Vec::new();
    let mut numeric_index = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if field.data_type().is_numeric() {
            columns.push(field.name().clone());
            numeric_index.push(i);
        } else {
            skipped.push(field.name().clone());
        }
    }
    let reader = builder.build().map_err(|source| IoError::NotParquet {
        path: path.to_path_buf(),
        source,
    })?;
    let width = columns.len();
    let mut values = Vec::new();
    let mut rows = 0usize;
    for batch in reader {
        let batch = batch.map_err(|source| IoError::Decode {
            path: path.to_path_buf(),
            source,
        })?;
        let n = batch.num_rows();
        values.resize((rows + n) * width, 0.0);
        for (j, &i) in numeric_index.iter().enumerate() {
            let column = batch.column(i);
            if let Some(r) = (0..n).find(|&r| column.is_null(r)) {
                return Err(IoError::data(
                    path,
                    format!("row {} column `{}` is null", rows + r + 1, columns[j]),
                ));
            }
            let cast = arrow::compute::cast(column, &DataType::Float64).map_err(|source| {
                IoError::Decode {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            for (r, v) in cast
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .enumerate()
            {
                values[(rows + r) * width + j] = *v;
            }
        }
        rows += n;
    }
    Ok(NumericTable {
        columns,
        rows,
        values,
        skipped,
    })
}

fn csv_table(bytes: &[u8], path: &Path) -> Result<NumericTable, IoError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| IoError::data(path, format!("cannot read the CSV header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(IoError::data(path, "the CSV file has no header line"));
    }
    let mut records = Vec::new();
    for (r, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            IoError::data(path, format!("data row {} (line {}): {e}", r + 1, r + 2))
        })?;
        records.push(record);
    }
    // A column is numeric when every cell parses as a number (NaN and inf included, so that
    // they are reported by the finiteness check with their row).
    let numeric: Vec<bool> = (0..header.len())
        .map(|j| {
            !records.is_empty()
                && records
                    .iter()
                    .all(|rec| rec.get(j).is_some_and(|c| c.parse::<f64>().is_ok()))
        })
        .collect();
    let columns: Vec<String> = header
        .iter()
        .zip(&numeric)
        .filter(|(_, n)| **n)
        .map(|(h, _)| h.clone())
        .collect();
    let skipped: Vec<String> = header
        .iter()
        .zip(&numeric)
        .filter(|(_, n)| !**n)
        .map(|(h, _)| h.clone())
        .collect();
    let mut values = Vec::with_capacity(records.len() * columns.len());
    for rec in &records {
        for (j, _) in numeric.iter().enumerate().filter(|(_, n)| **n) {
            values.push(rec[j].parse::<f64>().expect("checked numeric"));
        }
    }
    Ok(NumericTable {
        columns,
        rows: records.len(),
        values,
        skipped,
    })
}

/// A NPY array (format versions 1 to 3): 1-D (one column) or 2-D, of any integer or float
/// type of either byte order, C or Fortran order. Columns are named `0`, `1`, ...
fn npy_table(bytes: &[u8], path: &Path) -> Result<NumericTable, IoError> {
    let bad = |detail: String| IoError::data(path, format!("not a valid NPY file: {detail}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic string".into()));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad(format!("unsupported format version {major}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("the header is cut short".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("the header is not text".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("no 'descr' in header".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| bad("no 'fortran_order' in header".into()))?
        .starts_with("True");
    let shape_text =
        dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in header".into()))?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("cannot read shape {shape_text}")))?;
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        other => {
            return Err(bad(format!(
                "shape {other:?}: drift reads 1-D or 2-D arrays"
            )));
        }
    };
    let (order, kind, size) = {
        let mut chars = descr.chars();
        let order = chars.next().unwrap_or('?');
        let kind = chars.next().unwrap_or('?');
        let size: usize = chars.as_str().parse().unwrap_or(0);
        (order, kind, size)
    };
    let little = match order {
        '<' | '|' | '=' => true,
        '>' => false,
        _ => return Err(bad(format!("unknown byte order in dtype '{descr}'"))),
    };
    let convert: fn(&[u8], bool) -> f64 = match (kind, size) {
        ('f', 4) => |b, le| {
            let a = [b[0], b[1], b[2], b[3]];
            f64::from(if le {
                f32::from_le_bytes(a)
            } else {
                f32::from_be_bytes(a)
            })
        },
        ('f', 8) => |b, le| {
            let a: [u8; 8] = b.try_into().expect("8 bytes");
            if le {
                f64::from_le_bytes(a)
            } else {
                f64::from_be_bytes(a)
            }
        },
        ('i', 1) => |b, _| f64::from(b[0] as i8),
        ('u', 1) => |b, _| f64::from(b[0]),
        ('i', 2) => |b, le| {
            let a = [b[0], b[1]];
            f64::from(if le {
                i16::from_le_bytes(a)
            } else {
                i16::from_be_bytes(a)
            })
        },
        ('u', 2) => |b, le| {
            let a = [b[0], b[1]];
            f64::from(if le {
                u16::from_le_bytes(a)
            } else {
                u16::from_be_bytes(a)
            })
        },
        ('i', 4) => |b, le| {
            let a = [b[0], b[1], b[2], b[3]];
            f64::from(if le {
                i32::from_le_bytes(a)
            } else {
                i32::from_be_bytes(a)
            })
        },
        ('u', 4) => |b, le| {
            let a = [b[0], b[1], b[2], b[3]];
            f64::from(if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            })
        },
        ('i', 8) => |b, le| {
            let a: [u8; 8] = b.try_into().expect("8 bytes");
            (if le {
                i64::from_le_bytes(a)
            } else {
                i64::from_be_bytes(a)
            }) as f64
        },
        ('u', 8) => |b, le| {
            let a: [u8; 8] = b.try_into().expect("8 bytes");
            (if le {
                u64::from_le_bytes(a)
            } else {
                u64::from_be_bytes(a)
            }) as f64
        },
        _ => {
            return Err(bad(format!(
                "dtype '{descr}' is not an integer or float type drift reads \
                 (f4, f8, i1-i8, u1-u8)"
            )));
        }
    };
    let body = &bytes[start + header_len..];
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| bad("the shape is too large".into()))?;
    if body.len() != count * size {
        return Err(bad(format!(
            "shape ({rows}, {cols}) of {size}-byte values needs {} data bytes, the file has {}",
            count * size,
            body.len()
        )));
    }
    let mut values = vec![0f64; count];
    for (k, chunk) in body.chunks_exact(size).enumerate() {
        // Fortran order stores column by column.
        let (r, c) = if fortran {
            (k % rows.max(1), k / rows.max(1))
        } else {
            (k / cols.max(1), k % cols.max(1))
        };
        values[r * cols + c] = convert(chunk, little);
    }
    Ok(NumericTable {
        columns: (0..cols).map(|c| c.to_string()).collect(),
        rows,
        values,
        skipped: Vec::new(),
    })
}

/// The raw text of `key`'s value in a NPY header (a Python dict literal).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    fn p() -> &'static Path {
        Path::new("user.dat")
    }

    #[test]
    fn npy_orders_and_types() {
        let body: Vec<u8> = [1f64, 2., 3., 4., 5., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = npy_table(&npy("<f8", false, "(3, 2)", &body), p()).unwrap();
        assert_eq!((c.rows, c.columns.len()), (3, 2));
        assert_eq!(c.values, vec![1., 2., 3., 4., 5., 6.]);
        let f = npy_table(&npy("<f8", true, "(3, 2)", &body), p()).unwrap();
        assert_eq!(f.values, vec![1., 4., 2., 5., 3., 6.]);
        let be: Vec<u8> = [7i32, -8].iter().flat_map(|v| v.to_be_bytes()).collect();
        let i = npy_table(&npy(">i4", false, "(2,)", &be), p()).unwrap();
        assert_eq!(
            (i.values.clone(), i.columns.clone()),
            (vec![7., -8.], vec!["0".into()])
        );
        let u = npy_table(&npy("|u1", false, "(1, 3)", &[0, 16, 255]), p()).unwrap();
        assert_eq!(u.values, vec![0., 16., 255.]);
    }

    #[test]
    fn npy_errors_are_clear() {
        let err = |b: &[u8]| npy_table(b, p()).unwrap_err().to_string();
        assert!(err(b"PK\x03\x04 not npy").contains("magic"));
        assert!(err(&npy("<f8", false, "(3, 2)", &[0; 40])).contains("needs 48 data bytes"));
        assert!(err(&npy("<c16", false, "(1,)", &[0; 16])).contains("dtype '<c16'"));
        assert!(err(&npy("<f4", false, "(1, 2, 3)", &[0; 24])).contains("1-D or 2-D"));
    }

    #[test]
    fn csv_numeric_and_text_columns() {
        let t = csv_table(b"x, y ,name\n1,2,a\n3.5,-4e1,b\n", p()).unwrap();
        assert_eq!(t.columns, vec!["x", "y"]);
        assert_eq!(t.skipped, vec!["name"]);
        assert_eq!(t.values, vec![1., 2., 3.5, -40.]);
        let ragged = csv_table(b"x,y\n1,2\n3\n", p()).unwrap_err().to_string();
        assert!(ragged.contains("data row 2 (line 3)"), "{ragged}");
    }

    #[test]
    fn select_and_finiteness_errors_name_row_and_column() {
        let t = csv_table(b"alpha,beta\n1,2\n3,nan\n", p()).unwrap();
        let e = t.check_finite(p()).unwrap_err().to_string();
        assert!(
            e.contains("user.dat") && e.contains("row 2 column `beta`"),
            "{e}"
        );
        match t.select(&["bta".into()], p()).unwrap_err() {
            IoError::UnknownColumn {
                column, columns, ..
            } => assert_eq!(
                (column.as_str(), columns),
                ("bta", vec!["alpha".into(), "beta".into()])
            ),
            other => panic!("{other}"),
        }
        let s = t.select(&["beta".into(), "alpha".into()], p()).unwrap();
        assert_eq!(s.values[..2], [2., 1.]);
        let text = csv_table(b"a,name\n1,x\n", p()).unwrap();
        let e = text.select(&["name".into()], p()).unwrap_err().to_string();
        assert!(e.contains("not numeric"), "{e}");
    }

    #[test]
    fn parquet_integer_columns_convert() {
        // The committed digits file: uint8 pixels and target (see data/make_digits.py).
        let bytes = include_bytes!("../../../data/digits.parquet").to_vec();
        let t = read_numeric_bytes(bytes, FileFormat::Parquet, p()).unwrap();
        assert_eq!((t.rows, t.columns.len()), (1797, 65));
        assert_eq!(t.columns[0], "pixel_0_0");
        assert_eq!(t.columns[64], "target");
        // The first row of scikit-learn's digits.csv.gz.
        assert_eq!(t.values[..8], [0., 0., 5., 13., 9., 1., 0., 0.]);
        assert_eq!(t.values[64], 0.0);
        assert_eq!(t.values[65 + 64], 1.0);
        let e = read_numeric_bytes(b"not parquet".to_vec(), FileFormat::Parquet, p())
            .unwrap_err()
            .to_string();
        assert!(e.contains("user.dat"), "{e}");
    }
}
