//! The virtual tree a user sees: `/Planning/SCC/{appName}/{data_category}/{biz_key}/` for each
//! interface the partner may use, with `feedback/` under each. Nothing else exists, so no path
//! can lead anywhere else: `..` stops at `/`, and names are compared as they are (`%2e%2e` is
//! just a name that does not exist).

use std::path::{Component, Path};

/// Suffix of a feedback file: `feedback/{uploaded name}.result.json`.
pub const FEEDBACK_SUFFIX: &str = ".result.json";

/// One interface folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub data_category: String,
    pub biz_key: String,
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory above the interface folders: its children's names.
    Dir(Vec<String>),
    /// `/Planning/SCC/{app}/{category}/{biz_key}/`: uploads go here.
    Interface(Folder),
    /// `…/{biz_key}/feedback/`
    Feedback(Folder),
    /// `…/{biz_key}/feedback/{name}.result.json`: the answer to upload `name`.
    FeedbackFile(Folder, String),
    /// `…/{biz_key}/{name}`: a place to upload a file.
    Upload(Folder, String),
    /// Nothing.
    Missing,
}

/// The path's components after `.`/`..` are applied, never above the root.
pub fn normalize(path: &Path) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    parts
}

/// Resolve a path for a user of `partner` allowed `interfaces` (`category/biz_key`).
pub fn resolve(path: &Path, partner: &str, interfaces: &[String]) -> Node {
    let parts = normalize(path);
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let folders: Vec<Folder> = interfaces
        .iter()
        .filter_map(|i| i.split_once('/'))
        .map(|(c, b)| Folder {
            data_category: c.to_string(),
            biz_key: b.to_string(),
        })
        .collect();
    let find = |c: &str, b: &str| {
        folders
            .iter()
            .find(|f| f.data_category == c && f.biz_key == b)
            .cloned()
    };
    match p.as_slice() {
        [] => Node::Dir(vec!["Planning".into()]),
        ["Planning"] => Node::Dir(vec!["SCC".into()]),
        ["Planning", "SCC"] => Node::Dir(vec![partner.to_string()]),
        ["Planning", "SCC", app] if *app == partner => {
            let mut cats: Vec<String> = folders.iter().map(|f| f.data_category.clone()).collect();
            cats.sort();
            cats.dedup();
            Node::Dir(cats)
        }
        ["Planning", "SCC", app, cat] if *app == partner => {
            let keys: Vec<String> = folders
                .iter()
                .filter(|f| f.data_category == *cat)
                .map(|f| f.biz_key.clone())
                .collect();
            if keys.is_empty() {
                Node::Missing
            } else {
                Node::Dir(keys)
            }
        }
        ["Planning", "SCC", app, cat, biz] if *app == partner => {
            find(cat, biz).map_or(Node::Missing, Node::Interface)
        }
        ["Planning", "SCC", app, cat, biz, "feedback"] if *app == partner => {
            find(cat, biz).map_or(Node::Missing, Node::Feedback)
        }
        ["Planning", "SCC", app, cat, biz, "feedback", file] if *app == partner => {
            match (find(cat, biz), file.strip_suffix(FEEDBACK_SUFFIX)) {
                (Some(f), Some(name)) if !name.is_empty() => {
                    Node::FeedbackFile(f, name.to_string())
                }
                _ => Node::Missing,
            }
        }
        ["Planning", "SCC", app, cat, biz, name] if *app == partner => {
            find(cat, biz).map_or(Node::Missing, |f| Node::Upload(f, name.to_string()))
        }
        _ => Node::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> Node {
        resolve(
            Path::new(path),
            "LCFC",
            &["t1/bom".into(), "odm/master_data".into()],
        )
    }

    #[test]
    fn the_tree_and_nothing_else() {
        let bom = Folder {
            data_category: "t1".into(),
            biz_key: "bom".into(),
        };
        assert_eq!(r("/"), Node::Dir(vec!["Planning".into()]));
        assert_eq!(r("/Planning/SCC"), Node::Dir(vec!["LCFC".into()]));
        assert_eq!(
            r("/Planning/SCC/LCFC"),
            Node::Dir(vec!["odm".into(), "t1".into()])
        );
        assert_eq!(r("/Planning/SCC/LCFC/t1"), Node::Dir(vec!["bom".into()]));
        assert_eq!(r("/Planning/SCC/LCFC/t1/bom"), Node::Interface(bom.clone()));
        assert_eq!(
            r("/Planning/SCC/LCFC/t1/bom/"),
            Node::Interface(bom.clone())
        );
        assert_eq!(
            r("/Planning/SCC/LCFC/t1/bom/feedback"),
            Node::Feedback(bom.clone())
        );
        assert_eq!(
            r("/Planning/SCC/LCFC/t1/bom/feedback/bom_all_20220101000000_1.result.json"),
            Node::FeedbackFile(bom.clone(), "bom_all_20220101000000_1".into())
        );
        assert_eq!(
            r("/Planning/SCC/LCFC/t1/bom/bom_all_20220101000000_1"),
            Node::Upload(bom.clone(), "bom_all_20220101000000_1".into())
        );
        // Relative and dotted paths resolve inside the tree, never above it.
        assert_eq!(
            r("Planning/SCC/LCFC/t1/../t1/./bom"),
            Node::Interface(bom.clone())
        );
        assert_eq!(
            r("/../../../Planning/SCC/LCFC/t1/bom"),
            Node::Interface(bom)
        );
        for missing in [
            "/etc/passwd",
            "/../../etc/passwd",
            "/Planning/SCC/OTHER",
            "/Planning/SCC/OTHER/t1/bom",
            "/Planning/SCC/LCFC/t2",
            "/Planning/SCC/LCFC/t1/nope",
            "/Planning/SCC/LCFC/t1/bom/feedback/x.json",
            "/Planning/SCC/LCFC/t1/bom/feedback/.result.json",
            "/Planning/SCC/LCFC/t1/bom/%2e%2e/%2e%2e",
            "/Planning/SCC/LCFC/t1/bom/a/b",
            "/planning",
        ] {
            assert_eq!(r(missing), Node::Missing, "{missing}");
        }
        // `..` in a file name cannot climb: it is applied before the name is looked at.
        assert_eq!(
            r("/Planning/SCC/LCFC/t1/bom/feedback/.."),
            r("/Planning/SCC/LCFC/t1/bom")
        );
    }
}
