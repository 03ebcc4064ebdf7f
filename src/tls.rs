//! TLS on both listeners (rustls, aws-lc-rs): the certificate chain and key are PEM files,
//! reread on SIGHUP. A reload changes what the next handshake gets; open connections keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls_cert_file and tls_key_file go together: set both, or neither")]
    HalfConfigured,
    #[error("tls_cert_file {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("tls_key_file {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The node's TLS: the acceptor both listeners use, and the files to reread.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: Arc<CurrentKey>,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// `None` when neither file is set: the node speaks plain TCP.
    pub fn from_settings(settings: &Settings) -> Result<Option<Tls>, TlsError> {
        match (&settings.tls_cert_file, &settings.tls_key_file) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Tls::load(cert, key).map(Some),
            _ => Err(TlsError::HalfConfigured),
        }
    }

    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Tls, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let current = Arc::new(CurrentKey(RwLock::new(Arc::new(certified_key(
            &provider, cert_file, key_file,
        )?))));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // Websockets upgrade from HTTP/1.1, and REST speaks nothing else.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Rereads both files; on error the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let provider = aws_lc_rs::default_provider();
        let key = certified_key(&provider, &self.cert_file, &self.key_file)?;
        *self.current.0.write() = Arc::new(key);
        Ok(())
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// What every handshake is answered with; replaced whole on reload.
#[derive(Debug)]
struct CurrentKey(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

fn certified_key(
    provider: &CryptoProvider,
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey, TlsError> {
    let bad_cert = |reason: String| TlsError::Certificate {
        path: cert_file.to_path_buf(),
        reason,
    };
    let bad_key = |reason: String| TlsError::Key {
        path: key_file.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| bad_cert(error.to_string()))?;
    if chain.is_empty() {
        return Err(bad_cert("no PEM certificate in it".to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|error| bad_key(error.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| bad_key(error.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|error| bad_key(format!("does not match the certificate ({error})")))?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn a_pair_loads_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let (_, other_key) = write_pair(dir.path(), "b");
        assert!(Tls::load(&cert, &key).is_ok());

        let missing = dir.path().join("missing.pem");
        let error = Tls::load(&missing, &key).err().unwrap().to_string();
        assert!(error.starts_with("tls_cert_file "), "{error}");
        let error = Tls::load(&key, &key).err().unwrap().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = Tls::load(&cert, &cert).err().unwrap().to_string();
        assert!(error.starts_with("tls_key_file "), "{error}");
        let error = Tls::load(&cert, &other_key).err().unwrap().to_string();
        assert!(error.contains("does not match"), "{error}");
    }

    #[test]
    fn a_failed_reload_keeps_the_pair_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let tls = Tls::load(&cert, &key).unwrap();
        let before = tls.current.0.read().clone();
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.current.0.read()));
        let (new_cert, new_key) = write_pair(dir.path(), "b");
        std::fs::rename(new_cert, &cert).unwrap();
        std::fs::rename(new_key, &key).unwrap();
        tls.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.current.0.read()));
    }
}
