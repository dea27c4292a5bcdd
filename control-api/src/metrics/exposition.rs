//! Families written straight in the text exposition format. The scrape-time families
//! have a series per peer: tens of thousands of them, made afresh on every scrape, where
//! the client library's vectors (a hashed, locked child per label set, then a protobuf
//! copy, then the text) cost about 7 µs a series. Written here they cost a formatted line.

use std::fmt::Write as _;

#[derive(Debug)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: String,
}

impl Family {
    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Self::new(name, help, "counter")
    }

    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Self::new(name, help, "gauge")
    }

    fn new(name: &'static str, help: &'static str, kind: &'static str) -> Self {
        Self {
            name,
            help,
            kind,
            samples: String::new(),
        }
    }

    /// One series: `labels` as (name, value) pairs.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.samples.push_str(self.name);
        if !labels.is_empty() {
            self.samples.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.samples.push(',');
                }
                self.samples.push_str(label);
                self.samples.push_str("=\"");
                escape(&mut self.samples, text);
                self.samples.push('"');
            }
            self.samples.push('}');
        }
        let _ = writeln!(self.samples, " {value}");
    }

    /// The family's HELP and TYPE lines and its samples; nothing if it has none.
    pub fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        out.push_str(&self.samples);
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_help_type_and_escaped_samples() {
        let mut family = Family::counter("x_total", "Things.");
        family.sample(&[("a", "1"), ("b", "say \"hi\"\\\n")], 5);
        family.sample(&[], 7);
        let mut out = String::new();
        family.write(&mut out);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"say \\\"hi\\\"\\\\\\n\"} 5\nx_total 7\n"
        );
        let mut empty = String::new();
        Family::gauge("y", "Nothing.").write(&mut empty);
        assert!(empty.is_empty());
    }
}
