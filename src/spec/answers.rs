//! The simulated user: `answers.md` sections keyed by keywords, matched against questions.

/// Answer given when no section matches a question.
pub const NO_PREFERENCE: &str = "No preference: use your judgement.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerSection {
    pub keywords: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    pub sections: Vec<AnswerSection>,
}

impl Answers {
    /// Splits the file at `## ` headings; text before the first heading is ignored.
    pub fn parse(source: &str) -> Answers {
        let mut sections = Vec::new();
        let mut current: Option<AnswerSection> = None;
        for line in source.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                if let Some(section) = current.take() {
                    sections.push(section);
                }
                let keywords = heading
                    .split(',')
                    .map(|k| k.trim().to_lowercase())
                    .filter(|k| !k.is_empty())
                    .collect();
                current = Some(AnswerSection {
                    keywords,
                    text: String::new(),
                });
            } else if let Some(section) = current.as_mut() {
                section.text.push_str(line);
                section.text.push('\n');
            }
        }
        sections.extend(current);
        for section in &mut sections {
            section.text = section.text.trim().to_string();
        }
        Answers { sections }
    }

    /// Every section one of whose keywords occurs in the question, or `None`.
    pub fn answer(&self, question: &str) -> Option<String> {
        let question = question.to_lowercase();
        let matched: Vec<&str> = self
            .sections
            .iter()
            .filter(|s| s.keywords.iter().any(|k| question.contains(k.as_str())))
            .map(|s| s.text.as_str())
            .collect();
        (!matched.is_empty()).then(|| matched.join("\n\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWERS: &str =
        "# Answers\nintro\n## storage, file format\nOne JSON file.\n\n## errors\nExit 2.\n";

    #[test]
    fn questions_match_keywords() {
        let answers = Answers::parse(ANSWERS);
        assert_eq!(answers.sections.len(), 2);
        assert_eq!(
            answers.answer("Which FILE FORMAT should I use?").as_deref(),
            Some("One JSON file.")
        );
        assert_eq!(
            answers.answer("storage and errors?").as_deref(),
            Some("One JSON file.\n\nExit 2.")
        );
        assert_eq!(answers.answer("colour scheme?"), None);
    }
}
