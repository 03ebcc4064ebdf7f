//! The account directory (SPEC 2): who is whose parent, and who is superduper.
//! `{"accounts":[{"id":"…","parent":"…"|null,"name":"…","superduper":false}]}`; fields other than
//! these are ignored so that exports from other tools load as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use switchyard_actors::account::AccountId;

use crate::config::io_reason;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read accounts file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("accounts file {}: {reason}", path.display())]
    Json { path: PathBuf, reason: String },
    #[error(
        "accounts file {}: accounts[{index}]: id {id:?} is not an account id \
         (32 lowercase hex characters expected)",
        path.display()
    )]
    InvalidId {
        path: PathBuf,
        index: usize,
        id: String,
    },
    #[error(
        "accounts file {}: account {id}: parent {parent:?} is not an account id \
         (32 lowercase hex characters expected)",
        path.display()
    )]
    InvalidParent {
        path: PathBuf,
        id: String,
        parent: String,
    },
    #[error("accounts file {}: account {id} is listed twice", path.display())]
    DuplicateId { path: PathBuf, id: String },
    #[error("accounts file {}: account {id}: parent {parent} is not in the file", path.display())]
    UnknownParent {
        path: PathBuf,
        id: String,
        parent: String,
    },
    #[error("accounts file {}: account {id} is its own ancestor (a parent cycle)", path.display())]
    Cycle { path: PathBuf, id: String },
    #[error("cannot create accounts file {}: {reason}", path.display())]
    Create { path: PathBuf, reason: String },
}

#[derive(Debug)]
struct Account {
    parent: Option<AccountId>,
    name: Option<String>,
    superduper: bool,
}

/// Immutable once loaded; a reload builds a new one.
#[derive(Debug, Default)]
pub struct AccountDirectory {
    accounts: HashMap<AccountId, Account>,
}

#[derive(Deserialize)]
struct FileShape {
    accounts: Vec<EntryShape>,
}

#[derive(Deserialize)]
struct EntryShape {
    id: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    superduper: bool,
}

impl AccountDirectory {
    /// No accounts: every token acts on its own account only.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Loads the file, first creating it with one superduper "master" account when it does not
    /// exist: a node started with no configuration needs an account that may publish.
    pub fn load_or_create(path: &Path) -> Result<Self, DirectoryError> {
        if !path.exists() {
            create_with_master(path)?;
        }
        Self::load(path)
    }

    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| DirectoryError::Read {
            path: path.to_path_buf(),
            reason: io_reason(&e),
        })?;
        Self::parse(path, &text)
    }

    /// `path` only names the source in errors.
    fn parse(path: &Path, text: &str) -> Result<Self, DirectoryError> {
        let path = || path.to_path_buf();
        let file: FileShape = serde_json::from_str(text).map_err(|e| DirectoryError::Json {
            path: path(),
            reason: e.to_string(),
        })?;

        let mut accounts = HashMap::with_capacity(file.accounts.len());
        for (index, entry) in file.accounts.into_iter().enumerate() {
            let id = AccountId::parse(&entry.id).map_err(|_| DirectoryError::InvalidId {
                path: path(),
                index,
                id: entry.id.clone(),
            })?;
            let parent = match entry.parent.as_deref() {
                None | Some("") => None,
                Some(raw) => {
                    Some(
                        AccountId::parse(raw).map_err(|_| DirectoryError::InvalidParent {
                            path: path(),
                            id: entry.id.clone(),
                            parent: raw.to_string(),
                        })?,
                    )
                }
            };
            let account = Account {
                parent,
                name: entry.name,
                superduper: entry.superduper,
            };
            if accounts.insert(id, account).is_some() {
                return Err(DirectoryError::DuplicateId {
                    path: path(),
                    id: entry.id,
                });
            }
        }

        for (id, account) in &accounts {
            if let Some(parent) = &account.parent
                && !accounts.contains_key(parent)
            {
                return Err(DirectoryError::UnknownParent {
                    path: path(),
                    id: id.to_string(),
                    parent: parent.to_string(),
                });
            }
        }

        let directory = Self { accounts };
        if let Some(id) = directory.find_cycle() {
            return Err(DirectoryError::Cycle {
                path: path(),
                id: id.to_string(),
            });
        }
        Ok(directory)
    }

    /// An account on a parent cycle, if any. Each account is walked once.
    fn find_cycle(&self) -> Option<&AccountId> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            OnPath,
            Done,
        }
        let mut marks: HashMap<&AccountId, Mark> = HashMap::with_capacity(self.accounts.len());
        let mut ids: Vec<&AccountId> = self.accounts.keys().collect();
        // Deterministic error messages.
        ids.sort();
        for start in ids {
            let mut path = Vec::new();
            let mut current = Some(start);
            while let Some(id) = current {
                match marks.get(id) {
                    Some(Mark::Done) => break,
                    Some(Mark::OnPath) => return Some(id),
                    None => {}
                }
                marks.insert(id, Mark::OnPath);
                path.push(id);
                current = self.parent(id);
            }
            for id in path {
                marks.insert(id, Mark::Done);
            }
        }
        None
    }

    /// SPEC 2: equal, an ancestor, or superduper. Accounts not in the directory act on themselves.
    pub fn may_act_on(&self, actor: &AccountId, target: &AccountId) -> bool {
        if actor == target || self.is_superduper(actor) {
            return true;
        }
        // Terminates: load refuses cycles.
        let mut current = self.parent(target);
        while let Some(ancestor) = current {
            if ancestor == actor {
                return true;
            }
            current = self.parent(ancestor);
        }
        false
    }

    pub fn is_superduper(&self, account: &AccountId) -> bool {
        self.accounts.get(account).is_some_and(|a| a.superduper)
    }

    pub fn parent(&self, account: &AccountId) -> Option<&AccountId> {
        self.accounts.get(account)?.parent.as_ref()
    }

    pub fn name(&self, account: &AccountId) -> Option<&str> {
        self.accounts.get(account)?.name.as_deref()
    }

    pub fn contains(&self, account: &AccountId) -> bool {
        self.accounts.contains_key(account)
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// The superduper accounts, in id order.
    pub fn superduper_accounts(&self) -> Vec<&AccountId> {
        let mut accounts: Vec<&AccountId> = self
            .accounts
            .iter()
            .filter(|(_, account)| account.superduper)
            .map(|(id, _)| id)
            .collect();
        accounts.sort();
        accounts
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The accounts of this directory that `newer` no longer has.
    pub fn removed_in(&self, newer: &AccountDirectory) -> Vec<AccountId> {
        self.accounts
            .keys()
            .filter(|id| !newer.contains(id))
            .cloned()
            .collect()
    }
}

fn create_with_master(path: &Path) -> Result<(), DirectoryError> {
    use std::io::Write;
    let create_error = |e: std::io::Error| DirectoryError::Create {
        path: path.to_path_buf(),
        reason: io_reason(&e),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(create_error)?;
    }
    let master = switchyard_actors::id::fresh_id();
    let content = serde_json::json!({"accounts": [
        {"id": master, "parent": null, "name": "master", "superduper": true}
    ]});
    // create_new: if another node created it meanwhile, use theirs.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            let text = serde_json::to_string_pretty(&content).unwrap_or_default();
            file.write_all(text.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .map_err(create_error)?;
            tracing::info!(path = %path.display(), %master, "created an account directory with a superduper master account");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(create_error(e)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// `a`..: readable names for account ids.
    pub(crate) fn id(c: char) -> String {
        c.to_string().repeat(32)
    }

    pub(crate) fn acct(c: char) -> AccountId {
        AccountId::parse(&id(c)).unwrap()
    }

    fn parse(value: serde_json::Value) -> Result<AccountDirectory, DirectoryError> {
        AccountDirectory::parse(Path::new("/x/accounts.json"), &value.to_string())
    }

    /// a (superduper: false) > b > c; d alone; e superduper.
    pub(crate) fn sample() -> serde_json::Value {
        json!({"accounts": [
            {"id": id('a'), "parent": null, "name": "Reseller"},
            {"id": id('b'), "parent": id('a'), "name": "Customer"},
            {"id": id('c'), "parent": id('b'), "name": "Sub", "superduper": false},
            {"id": id('d'), "name": "Other", "extra": {"ignored": true}},
            {"id": id('e'), "parent": null, "name": "Master", "superduper": true},
        ]})
    }

    #[test]
    fn ancestors_act_on_descendants_only() {
        let dir = parse(sample()).unwrap();
        assert_eq!(dir.len(), 5);
        assert!(dir.may_act_on(&acct('a'), &acct('a')));
        assert!(dir.may_act_on(&acct('a'), &acct('b')));
        assert!(dir.may_act_on(&acct('a'), &acct('c')));
        assert!(dir.may_act_on(&acct('b'), &acct('c')));
        assert!(!dir.may_act_on(&acct('c'), &acct('b')));
        assert!(!dir.may_act_on(&acct('b'), &acct('a')));
        assert!(!dir.may_act_on(&acct('a'), &acct('d')));
        assert!(!dir.may_act_on(&acct('d'), &acct('c')));
        assert_eq!(dir.name(&acct('b')), Some("Customer"));
        assert_eq!(dir.parent(&acct('c')), Some(&acct('b')));
    }

    #[test]
    fn superduper_acts_on_anyone() {
        let dir = parse(sample()).unwrap();
        assert!(dir.is_superduper(&acct('e')));
        assert!(!dir.is_superduper(&acct('a')));
        assert!(dir.may_act_on(&acct('e'), &acct('c')));
        assert!(dir.may_act_on(&acct('e'), &acct('f')));
        assert!(!dir.may_act_on(&acct('c'), &acct('e')));
    }

    #[test]
    fn missing_accounts_act_on_themselves_only() {
        let dir = parse(sample()).unwrap();
        assert!(!dir.contains(&acct('f')));
        assert!(dir.may_act_on(&acct('f'), &acct('f')));
        assert!(!dir.may_act_on(&acct('f'), &acct('a')));
        assert!(!dir.may_act_on(&acct('a'), &acct('f')));
        assert!(!dir.is_superduper(&acct('f')));

        let empty = AccountDirectory::empty();
        assert!(empty.is_empty());
        assert!(empty.may_act_on(&acct('a'), &acct('a')));
        assert!(!empty.may_act_on(&acct('a'), &acct('b')));
    }

    #[test]
    fn empty_parent_string_means_none() {
        let dir = parse(json!({"accounts": [{"id": id('a'), "parent": ""}]})).unwrap();
        assert_eq!(dir.parent(&acct('a')), None);
    }

    fn error(value: serde_json::Value) -> String {
        parse(value).unwrap_err().to_string()
    }

    #[test]
    fn bad_files_give_one_line_errors() {
        let p = "accounts file /x/accounts.json";
        assert_eq!(
            error(json!({"accounts": [{"id": "nope"}]})),
            format!(
                "{p}: accounts[0]: id \"nope\" is not an account id (32 lowercase hex characters expected)"
            )
        );
        assert_eq!(
            error(json!({"accounts": [{"id": id('a'), "parent": "x"}]})),
            format!(
                "{p}: account {}: parent \"x\" is not an account id (32 lowercase hex characters expected)",
                id('a')
            )
        );
        assert_eq!(
            error(json!({"accounts": [{"id": id('a')}, {"id": id('a')}]})),
            format!("{p}: account {} is listed twice", id('a'))
        );
        assert_eq!(
            error(json!({"accounts": [{"id": id('a'), "parent": id('b')}]})),
            format!(
                "{p}: account {}: parent {} is not in the file",
                id('a'),
                id('b')
            )
        );
        let json_error = error(json!({"accounts": {}}));
        assert!(
            json_error.starts_with(&format!("{p}: invalid type")),
            "{json_error}"
        );
        let json_error = error(json!({"nothing": []}));
        assert!(
            json_error.contains("missing field `accounts`"),
            "{json_error}"
        );
        assert!(!json_error.contains('\n'));
    }

    #[test]
    fn not_json_is_refused() {
        let err = AccountDirectory::parse(Path::new("/x/a.json"), "{oops").unwrap_err();
        assert!(matches!(err, DirectoryError::Json { .. }));
        assert!(err.to_string().contains("line 1 column 2"), "{err}");
    }

    #[test]
    fn cycles_are_refused() {
        let self_parent = json!({"accounts": [{"id": id('a'), "parent": id('a')}]});
        assert!(matches!(
            parse(self_parent),
            Err(DirectoryError::Cycle { .. })
        ));

        let loop3 = json!({"accounts": [
            {"id": id('1'), "parent": null},
            {"id": id('2'), "parent": id('1')},
            {"id": id('a'), "parent": id('c')},
            {"id": id('b'), "parent": id('a')},
            {"id": id('c'), "parent": id('b')},
        ]});
        let err = parse(loop3).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "accounts file /x/accounts.json: account {} is its own ancestor (a parent cycle)",
                id('a')
            )
        );
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        std::fs::write(&path, sample().to_string()).unwrap();
        assert_eq!(AccountDirectory::load(&path).unwrap().len(), 5);

        let missing = dir.path().join("missing.json");
        let err = AccountDirectory::load(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read accounts file {}: No such file or directory",
                missing.display()
            )
        );
    }

    #[test]
    fn a_missing_file_is_created_with_one_superduper_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/accounts.json");
        let created = AccountDirectory::load_or_create(&path).unwrap();
        assert_eq!(created.len(), 1);
        let masters = created.superduper_accounts();
        assert_eq!(masters.len(), 1);
        let master = masters[0].clone();
        let again = AccountDirectory::load_or_create(&path).unwrap();
        assert_eq!(
            again.superduper_accounts(),
            vec![&master],
            "kept, not recreated"
        );
    }
}
