//! TLS to the database through rustls (ring), as libpq's sslmode names it:
//! `verify-full` checks the chain against `ca_file` and the host's name,
//! `verify-ca` and `require` the chain only (libpq's `require` with a root
//! certificate); without `ca_file` every mode but `disable` is refused, as
//! a certificate nobody checks proves nothing. `disable` has no TLS (it is
//! only for Unix sockets, see `location`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::PgError;
use crate::store::location::SslMode;
use crate::trusted::{self, Rules};

/// The largest CA file read.
const MAX_CA_FILE: u64 = 1024 * 1024;

/// The rustls configuration for `mode`, `None` for `disable`.
pub(super) fn client_config(mode: SslMode, ca_file: Option<&Path>) -> Result<Option<ClientConfig>, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match (mode, ca_file) {
        (SslMode::Disable, _) => return Ok(None),
        (_, Some(path)) => Arc::new(read_roots(path)?),
        (SslMode::Require, None) => {
            return Err(PgError::config(
                "sslmode=require without a CA certificate accepts any server, a fake one too: \
                 set [postgresql] ca_file (and prefer sslmode=verify-full)"
                    .into(),
            ));
        }
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(PgError::config(format!(
                "sslmode={} needs a CA certificate: set [postgresql] ca_file",
                mode.as_str()
            )));
        }
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::config_from(format!("TLS: {e}"), e))?;
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
        .build()
        .map_err(|e| PgError::config_from(format!("TLS: {e}"), e))?;
    let verifier: Arc<dyn ServerCertVerifier> = if mode == SslMode::VerifyFull {
        webpki
    } else {
        Arc::new(AnyName(webpki))
    };
    Ok(Some(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// The CA file: a regular file that only root can change (whoever can
/// replace it can impersonate the database), holding PEM certificates.
fn read_roots(path: &Path) -> Result<RootCertStore, PgError> {
    let fail = |reason: String| PgError::config(format!("ca_file {}: {reason}", path.display()));
    // Public, but only root may change it.
    let rules = Rules {
        private: false,
        max_size: MAX_CA_FILE,
    };
    let pem = trusted::read(path, &rules).map_err(|e| PgError::config_from(format!("ca_file {e}"), e))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no certificate".into()));
    }
    Ok(roots)
}

/// `verify-ca` and `require`: the chain must lead to the CA; the name is not
/// checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
