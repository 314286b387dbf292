//! What a Git server prints on the side band during one operation (a hook's reason for refusing a
//! push, `remote:` notices), without its progress meters: the reason survives a push of any size,
//! however many "Resolving deltas: N%" updates come before it.

/// Characters kept at most; progress lines do not count.
const KEPT: usize = 2_000;

#[derive(Default)]
pub struct ServerText {
    lines: Vec<String>,
    /// The start of a line whose end has not arrived yet (chunks split lines anywhere).
    partial: String,
    kept: usize,
}

impl ServerText {
    pub fn push(&mut self, chunk: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(chunk));
        while let Some(end) = self.partial.find(['\n', '\r']) {
            let line: String = self.partial.drain(..=end).collect();
            self.keep(line.trim());
        }
    }

    /// The kept lines (and an unfinished last one), joined into one line.
    pub fn text(&self) -> String {
        let tail = self.partial.trim();
        let tail = (!tail.is_empty() && !is_progress(tail)).then_some(tail);
        self.lines.iter().map(String::as_str).chain(tail).collect::<Vec<_>>().join(" ")
    }

    fn keep(&mut self, line: &str) {
        if line.is_empty() || is_progress(line) || self.kept >= KEPT {
            return;
        }
        let line: String = line.chars().take(KEPT - self.kept).collect();
        self.kept += line.chars().count();
        self.lines.push(line);
    }
}

/// Git's progress meters: "Resolving deltas:  45% (9/20)", "Counting objects: 12, done.", "Total 3 (delta 0)".
fn is_progress(line: &str) -> bool {
    const METERS: [&str; 9] = [
        "Counting objects", "Compressing objects", "Writing objects", "Resolving deltas", "Enumerating objects",
        "Receiving objects", "Unpacking objects", "Checking connectivity", "Total ",
    ];
    let line = line.strip_prefix("remote:").map_or(line, str::trim_start);
    METERS.iter().any(|m| line.starts_with(m)) || (line.contains("% (") && line.ends_with(')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_reason_survives_any_amount_of_progress() {
        let mut text = ServerText::default();
        for n in 0..=10_000 {
            text.push(format!("Resolving deltas: {:3}% ({n}/10000)\r", n / 100).as_bytes());
        }
        text.push(b"Resolving deltas: 100% (10000/10000), done.\nTotal 500 (delta 20), reused 0\npolicy: no pu");
        assert_eq!(text.text(), "policy: no pu", "an unfinished line is kept");
        text.push(b"shes on Sunday\nremote: see https://wiki/push-policy\n");
        assert_eq!(text.text(), "policy: no pushes on Sunday remote: see https://wiki/push-policy");
        let mut long = ServerText::default();
        long.push("x".repeat(5_000).as_bytes());
        long.push(b"\nlater\n");
        assert_eq!(long.text().len(), KEPT, "bounded");
    }
}
