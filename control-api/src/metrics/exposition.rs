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

    pub fn histogram(name: &'static str, help: &'static str) -> Self {
        Self::new(name, help, "histogram")
    }

    /// One histogram's series: `_bucket` per bound (cumulative, then `+Inf`), `_sum`,
    /// `_count`. `counts` are per bucket, the last one past every bound.
    pub fn histogram_samples(
        &mut self,
        labels: &[(&str, &str)],
        bounds: &[u64],
        counts: &[u64],
        sum: u64,
    ) {
        let mut cumulative = 0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), u64::to_string);
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.series("_bucket", &with_le, cumulative);
        }
        self.series("_sum", labels, sum);
        self.series("_count", labels, cumulative);
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
        self.series("", labels, value);
    }

    fn series(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.samples.push_str(self.name);
        self.samples.push_str(suffix);
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
        let mut histogram = Family::histogram("b", "Sizes.");
        histogram.histogram_samples(&[("d", "rx")], &[1, 4], &[2, 3, 1], 19);
        let mut out = String::new();
        histogram.write(&mut out);
        assert_eq!(
            out,
            "# HELP b Sizes.\n# TYPE b histogram\nb_bucket{d=\"rx\",le=\"1\"} 2\nb_bucket{d=\"rx\",le=\"4\"} 5\nb_bucket{d=\"rx\",le=\"+Inf\"} 6\nb_sum{d=\"rx\"} 19\nb_count{d=\"rx\"} 6\n"
        );
        let mut empty = String::new();
        Family::gauge("y", "Nothing.").write(&mut empty);
        assert!(empty.is_empty());
    }
}
