//! A streaming walk over an XML document that builds a small tree for one element at a time,
//! remembering where each element sits in the document so its exact bytes can be kept as a
//! record's raw payload.
//!
//! A CTF file can hold thousands of pupils: the parser asks for the root's children one by one
//! ([`Walker::next_child`]), builds a tree of just that child, uses it and drops it, so the
//! file is never held as a whole tree next to its text.
//!
//! Limits: no namespaces (CTF has none; prefixes are dropped), no DTDs; knows nothing of CTF.

use std::ops::Range;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

/// One element: its local name, its own text (entities resolved, not trimmed), its children
/// and its byte range in the document.
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
    pub span: Range<usize>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a `/`-separated path of first children, e.g. `BasicDetails/FormerUPN`.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, name| e.child(name))
    }

    /// The trimmed text at a path, `None` when the element is absent or blank.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.at(path)
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Why the document could not be read further. Says where, never what the bytes were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlError {
    /// The byte offset where reading failed.
    pub at: usize,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the XML is not well formed at byte {}", self.at)
    }
}

/// A child of the element being walked.
pub(crate) enum Child {
    /// A child element started: call [`Walker::element`] or [`Walker::skip`] next.
    Start { name: String, at: usize },
    /// The walked element ended.
    End,
}

/// A walk over a document's elements.
pub(crate) struct Walker<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    /// The start tag just read by `next_child`, not yet consumed.
    pending: Option<(BytesStart<'a>, bool, usize)>,
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name.into_owned(),
    }
}

impl<'a> Walker<'a> {
    /// A walk over `text`.
    pub fn new(text: &'a str) -> Self {
        // Text is not trimmed, so every byte belongs to some event and an element starts
        // exactly where the previous event ended.
        let reader = Reader::from_str(text);
        Self {
            text,
            reader,
            pending: None,
        }
    }

    /// The whole document text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The document text from `at` to the end.
    pub fn rest(&self, at: usize) -> &'a str {
        self.text.get(at..).unwrap_or_default()
    }

    /// The document text in `span`.
    #[cfg(test)]
    pub fn slice(&self, span: &Range<usize>) -> &'a str {
        self.text.get(span.clone()).unwrap_or_default()
    }

    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    /// The root element's name, skipping the declaration, comments and whitespace; `None`
    /// when the document has no root element or text before it (it is not XML).
    pub fn root(&mut self) -> Result<Option<String>, XmlError> {
        loop {
            let at = self.position();
            match self.reader.read_event() {
                Ok(Event::Start(e)) => {
                    let name = local(e.local_name().as_ref().as_bytes());
                    return Ok(Some(name));
                }
                Ok(Event::Empty(_) | Event::Eof) => return Ok(None),
                Ok(Event::Text(t)) if t.xml10_content().trim().is_empty() => {}
                Ok(Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) | Event::End(_)) => {
                    return Ok(None);
                }
                Ok(_) => {}
                Err(_) => return Err(XmlError { at }),
            }
        }
    }

    /// The next child of the element whose start was read last, or its end.
    pub fn next_child(&mut self) -> Result<Child, XmlError> {
        loop {
            let at = self.position();
            match self.reader.read_event() {
                Ok(Event::Start(e)) => {
                    let name = local(e.local_name().as_ref().as_bytes());
                    self.pending = Some((e, false, at));
                    return Ok(Child::Start { name, at });
                }
                Ok(Event::Empty(e)) => {
                    let name = local(e.local_name().as_ref().as_bytes());
                    self.pending = Some((e, true, at));
                    return Ok(Child::Start { name, at });
                }
                Ok(Event::End(_) | Event::Eof) => return Ok(Child::End),
                Ok(_) => {}
                Err(_) => return Err(XmlError { at }),
            }
        }
    }

    /// Skips the child `next_child` just returned.
    pub fn skip(&mut self) -> Result<(), XmlError> {
        self.element().map(|_| ())
    }

    /// Builds the tree of the child `next_child` just returned.
    pub fn element(&mut self) -> Result<Element, XmlError> {
        let Some((start, empty, at)) = self.pending.take() else {
            return Err(XmlError {
                at: self.position(),
            });
        };
        let root = Element {
            name: local(start.local_name().as_ref().as_bytes()),
            span: at..self.position(),
            ..Element::default()
        };
        if empty {
            return Ok(root);
        }
        let mut stack = vec![root];
        loop {
            let at = self.position();
            let event = self.reader.read_event().map_err(|_| XmlError { at })?;
            match event {
                Event::Start(e) => stack.push(Element {
                    name: local(e.local_name().as_ref().as_bytes()),
                    span: at..at,
                    ..Element::default()
                }),
                Event::Empty(e) => {
                    let child = Element {
                        name: local(e.local_name().as_ref().as_bytes()),
                        span: at..self.position(),
                        ..Element::default()
                    };
                    if let Some(top) = stack.last_mut() {
                        top.children.push(child);
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => resolve_predefined_entity(&r.xml10_content())
                            .ok_or(XmlError { at })?
                            .to_owned(),
                        Err(_) => return Err(XmlError { at }),
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&resolved);
                    }
                }
                Event::End(_) => {
                    let Some(mut done) = stack.pop() else {
                        return Err(XmlError { at });
                    };
                    done.span.end = self.position();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Event::Eof => return Err(XmlError { at }),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_their_exact_bytes_and_resolved_text() {
        let doc = "<?xml version=\"1.0\"?>\n<Root>\n  <A x=\"1\"><B>O&apos;Neil &amp; Co&#33;</B><C/></A>\n  <D>2</D>\n</Root>";
        let mut w = Walker::new(doc);
        assert_eq!(w.root(), Ok(Some("Root".into())));
        let Ok(Child::Start { name, .. }) = w.next_child() else {
            panic!("a child")
        };
        assert_eq!(name, "A");
        let a = w.element().expect("element");
        assert_eq!(
            w.slice(&a.span),
            "<A x=\"1\"><B>O&apos;Neil &amp; Co&#33;</B><C/></A>"
        );
        assert_eq!(a.text_at("B"), Some("O'Neil & Co!"));
        assert_eq!(w.slice(&a.children[1].span), "<C/>");
        assert!(matches!(w.next_child(), Ok(Child::Start { .. })));
        assert!(w.skip().is_ok());
        assert!(matches!(w.next_child(), Ok(Child::End)));
    }

    #[test]
    fn text_that_is_not_xml_has_no_root() {
        assert_eq!(Walker::new("UPN,Surname\n1,2\n").root(), Ok(None));
        assert_eq!(Walker::new("").root(), Ok(None));
    }

    #[test]
    fn a_broken_element_reports_where_not_what() {
        let doc = "<Root><A><B>secret</C></A></Root>";
        let mut w = Walker::new(doc);
        assert!(w.root().is_ok());
        assert!(matches!(w.next_child(), Ok(Child::Start { .. })));
        let e = w.element().expect_err("mismatched end tag");
        assert!(!e.to_string().contains("secret"));
    }
}
