//! wss:// and https:// nodes: their certificate is checked against the system's certificate
//! authorities and, with `--ca-file`, those of that PEM file (a private authority, or a node's
//! self-signed certificate).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// What a client of this process trusts. The system's authorities are read on first use: a
/// run of ws:// and http:// URLs never pays for them.
#[derive(Clone, Debug)]
pub(crate) struct Trust(Arc<Lazy>);

#[derive(Debug)]
struct Lazy {
    /// What `--ca-file` holds, read at once so that a bad file is a bad flag.
    extra: Vec<CertificateDer<'static>>,
    config: OnceLock<Arc<ClientConfig>>,
}

impl Trust {
    pub(crate) fn new(ca_file: Option<&Path>) -> Result<Trust, String> {
        let mut extra = Vec::new();
        if let Some(path) = ca_file {
            let shown = path.display();
            extra = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{shown}: {e}"))?;
            if extra.is_empty() {
                return Err(format!("{shown}: no PEM certificate in it"));
            }
            let mut check = RootCertStore::empty();
            for cert in &extra {
                check
                    .add(cert.clone())
                    .map_err(|e| format!("{shown}: {e}"))?;
            }
        }
        Ok(Trust(Arc::new(Lazy {
            extra,
            config: OnceLock::new(),
        })))
    }

    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        self.0.config.get_or_init(|| self.build()).clone()
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.config())
    }

    fn build(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        // A system without a store (a container) still trusts what --ca-file names.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots.add_parsable_certificates(self.0.extra.iter().cloned());
        let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports rustls's default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("sy-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = Trust::new(Some(&empty)).unwrap_err();
        assert!(error.ends_with("no PEM certificate in it"), "{error}");
        let error = Trust::new(Some(&dir.join("missing.pem"))).unwrap_err();
        assert!(error.contains("missing.pem"), "{error}");
        assert!(Trust::new(None).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
