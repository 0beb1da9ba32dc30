//! The spanned value tree a spec is parsed into: every key and value remembers where it came from.

use crate::diagnostic::Diagnostic;
use crate::source::{SourceId, Span};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A TOML value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

/// A key of a table with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    /// Entries in source order.
    Table(Vec<(Key, Node)>),
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Bool(_) => "boolean",
            NodeValue::Int(_) => "integer",
            NodeValue::Float(_) => "float",
            NodeValue::Str(_) => "string",
            NodeValue::Array(_) => "array",
            NodeValue::Table(_) => "table",
        }
    }

    pub fn as_table(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_table()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The spanless JSON value (numbers keep their integer/float distinction).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            NodeValue::Bool(b) => J::Bool(*b),
            NodeValue::Int(i) => J::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            NodeValue::Str(s) => J::String(s.clone()),
            NodeValue::Array(a) => J::Array(a.iter().map(Node::to_json).collect()),
            NodeValue::Table(t) => J::Object(
                t.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Sets `path` (dotted segments) inside this table, creating intermediate tables.
    pub fn set_path(&mut self, path: &[String], value: Node, key_span: Span) -> Result<(), String> {
        let NodeValue::Table(entries) = &mut self.value else {
            return Err("not a table".into());
        };
        let (first, rest) = path.split_first().expect("non-empty path");
        let pos = entries.iter().position(|(k, _)| &k.name == first);
        if rest.is_empty() {
            match pos {
                Some(i) => entries[i].1 = value,
                None => entries.push((
                    Key {
                        name: first.clone(),
                        span: key_span,
                    },
                    value,
                )),
            }
            return Ok(());
        }
        let i = match pos {
            Some(i) => i,
            None => {
                entries.push((
                    Key {
                        name: first.clone(),
                        span: key_span,
                    },
                    Node {
                        value: NodeValue::Table(Vec::new()),
                        span: key_span,
                    },
                ));
                entries.len() - 1
            }
        };
        let child = &mut entries[i].1;
        if child.as_table().is_none() {
            let ty = child.type_name();
            let article = if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return Err(format!("`{first}` is {article} {ty}, not a table"));
        }
        child.set_path(rest, value, key_span)
    }
}

/// Parses a whole TOML document into a spanned tree.
pub fn parse_document(text: &str, source: SourceId) -> Result<Node, Diagnostic> {
    let table = DeTable::parse(text).map_err(|e| toml_error(&e, source))?;
    convert_table(table, source)
}

/// Parses a lone TOML value (for `--set key=value`). Bare words become strings.
pub fn parse_value(text: &str, source: SourceId) -> Node {
    match DeValue::parse(text) {
        Ok(v) => convert(v, source).unwrap_or_else(|_| string_node(text, source)),
        Err(_) => string_node(text, source),
    }
}

fn string_node(text: &str, source: SourceId) -> Node {
    Node {
        value: NodeValue::Str(text.to_string()),
        span: Span::new(source, 0..text.len()),
    }
}

fn toml_error(e: &toml::de::Error, source: SourceId) -> Diagnostic {
    let message = e.message().trim().to_string();
    Diagnostic::new(
        e.span().map(|r| Span::new(source, r)),
        "",
        format!("invalid TOML: {message}"),
    )
}

fn convert_table(table: Spanned<DeTable<'_>>, source: SourceId) -> Result<Node, Diagnostic> {
    let span = Span::new(source, table.span());
    let mut entries = Vec::new();
    for (k, v) in table.into_inner() {
        let key = Key {
            name: k.get_ref().to_string(),
            span: Span::new(source, k.span()),
        };
        entries.push((key, convert(v, source)?));
    }
    Ok(Node {
        value: NodeValue::Table(entries),
        span,
    })
}

fn convert(v: Spanned<DeValue<'_>>, source: SourceId) -> Result<Node, Diagnostic> {
    let span = Span::new(source, v.span());
    let value = match v.into_inner() {
        DeValue::String(s) => NodeValue::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
            let (negative, digits) = match digits.strip_prefix('-') {
                Some(rest) => (true, rest.to_string()),
                None => (false, digits.trim_start_matches('+').to_string()),
            };
            let digits = match i.radix() {
                10 => digits,
                _ => digits
                    .trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b")
                    .to_string(),
            };
            let magnitude = i64::from_str_radix(&digits, i.radix()).map_err(|_| {
                Diagnostic::new(
                    Some(span),
                    "",
                    format!("integer `{}` is out of range", i.as_str()),
                )
            })?;
            NodeValue::Int(if negative { -magnitude } else { magnitude })
        }
        DeValue::Float(f) => {
            let text: String = f.as_str().chars().filter(|c| *c != '_').collect();
            let x = match text.trim_start_matches('+') {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                t => t.parse::<f64>().map_err(|_| {
                    Diagnostic::new(Some(span), "", format!("invalid float `{}`", f.as_str()))
                })?,
            };
            if !x.is_finite() {
                return Err(Diagnostic::new(
                    Some(span),
                    "",
                    format!(
                        "non-finite number `{}` is not allowed in a spec",
                        f.as_str()
                    ),
                ));
            }
            NodeValue::Float(x)
        }
        DeValue::Boolean(b) => NodeValue::Bool(b),
        DeValue::Datetime(_) => {
            return Err(Diagnostic::new(
                Some(span),
                "",
                "dates and times are not valid spec values",
            ));
        }
        DeValue::Array(items) => NodeValue::Array(
            items
                .into_iter()
                .map(|i| convert(i, source))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => {
            return convert_table(Spanned::new(span.start..span.end, t), source);
        }
    };
    Ok(Node { value, span })
}
