//! How a node reaches PostgreSQL: the URL's `sslmode` and `sslrootcert` read as libpq reads
//! them, TLS by rustls.
//!
//! The driver knows only `disable`, `prefer` and `require`, and verifies nothing itself: the
//! two settings are taken out of the URL here and turned into a rustls configuration.
//! - `disable`: clear text (member data and PIN hashes on the wire: only for a database on
//!   the same host).
//! - `prefer` (the default, as in libpq) and `allow`: TLS when the server offers it, the
//!   certificate not checked.
//! - `require`: TLS or no connection; the certificate is checked against `sslrootcert` when
//!   one is given (as libpq does), otherwise not.
//! - `verify-ca`: the certificate must chain to `sslrootcert`.
//! - `verify-full`: that, and it must name the host the URL connects to.
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the public roots (a
//! managed database with a publicly signed certificate). The file is read at each new
//! session, so a renewed CA file is picked up without a restart.

use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;

/// What the URL asks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No TLS at all.
    ClearText,
    /// Encrypted when the server offers it; anyone may be on the other end.
    Unverified { required: bool },
    /// Signed by the CA; any host name.
    Chain,
    /// Signed by the CA, for the host connected to.
    Full,
}

impl Check {
    /// A line for the node's log at start: operators see whether the database link is
    /// protected without reading the URL (which holds the password).
    pub fn describe(self) -> &'static str {
        match self {
            Check::ClearText => "PostgreSQL in clear text (sslmode=disable)",
            Check::Unverified { required: false } => {
                "PostgreSQL over TLS when offered, certificate not checked (sslmode=prefer)"
            }
            Check::Unverified { required: true } => {
                "PostgreSQL over TLS, certificate not checked (sslmode=require)"
            }
            Check::Chain => "PostgreSQL over TLS, certificate checked against the CA (verify-ca)",
            Check::Full => {
                "PostgreSQL over TLS, certificate checked against the CA and host (verify-full)"
            }
        }
    }

    pub fn is_verified(self) -> bool {
        matches!(self, Check::Chain | Check::Full)
    }
}

/// The driver's configuration for `url`, and the TLS it needs (`None`: clear text).
pub struct Target {
    pub config: postgres::Config,
    pub check: Check,
    tls: Option<MakeRustlsConnect>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let (rest, mode, root) = take_tls_settings(url)?;
        let mut config: postgres::Config = rest.parse().map_err(|e: postgres::Error| {
            StoreError::Unavailable(format!("bad database URL: {e}"))
        })?;
        let needs_root = || {
            StoreError::Unavailable(format!(
                "sslmode={} needs sslrootcert=<CA file> (or sslrootcert=system)",
                mode.as_deref().unwrap_or_default()
            ))
        };
        let check = match (mode.as_deref(), &root) {
            (Some("disable"), _) => Check::ClearText,
            (None | Some("prefer" | "allow"), _) => Check::Unverified { required: false },
            (Some("require"), None) => Check::Unverified { required: true },
            (Some("require" | "verify-ca"), Some(_)) => Check::Chain,
            (Some("verify-full"), Some(_)) => Check::Full,
            (Some("verify-ca" | "verify-full"), None) => return Err(needs_root()),
            (Some(other), _) => {
                return Err(StoreError::Unavailable(format!(
                    "bad database URL: sslmode={other} (disable, prefer, require, verify-ca or \
                     verify-full)"
                )));
            }
        };
        config.ssl_mode(match check {
            Check::ClearText => SslMode::Disable,
            Check::Unverified { required: false } => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let tls = match check {
            Check::ClearText => None,
            _ => Some(MakeRustlsConnect::new(client_config(
                check,
                root.as_deref(),
            )?)),
        };
        Ok(Target { config, check, tls })
    }

    pub fn connect(&self) -> Result<postgres::Client, StoreError> {
        Ok(match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(postgres::NoTls)?,
        })
    }
}

/// A plain session to `url` with its TLS settings honoured (tools and tests beside the store).
pub fn client(url: &str, application_name: &str) -> Result<postgres::Client, StoreError> {
    let mut target = Target::parse(url)?;
    target.config.application_name(application_name);
    target.connect()
}

const SETTINGS: [&str; 2] = ["sslmode", "sslrootcert"];

/// Splits `sslmode` and `sslrootcert` off the URL (URI or `key=value` form); returns the rest
/// for the driver.
fn take_tls_settings(url: &str) -> Result<(String, Option<String>, Option<String>), StoreError> {
    let (mut mode, mut root) = (None, None);
    let mut keep = |key: &str, value: String| match key {
        "sslmode" => mode = Some(value),
        _ => root = Some(value),
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut others = Vec::new();
                for pair in query.split('&').filter(|pair| !pair.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if SETTINGS.contains(&key) {
                        let value = percent_encoding::percent_decode_str(value)
                            .decode_utf8()
                            .map_err(|_| {
                                StoreError::Unavailable(format!(
                                    "bad database URL: {key} is not UTF-8"
                                ))
                            })?;
                        keep(key, value.into_owned());
                    } else {
                        others.push(pair);
                    }
                }
                if others.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", others.join("&"))
                }
            }
        }
    } else {
        let mut others = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some((key, value)) if SETTINGS.contains(&key.trim()) => {
                    keep(key.trim(), value.trim_matches('\'').to_owned());
                }
                _ => others.push(word),
            }
        }
        others.join(" ")
    };
    Ok((rest, mode, root))
}

fn client_config(check: Check, root: Option<&str>) -> Result<ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unavailable(format!("TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (check, root) {
        (Check::Chain | Check::Full, Some(root)) => {
            let web = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("TLS setup: {e}")))?;
            if check == Check::Full {
                web
            } else {
                Arc::new(AnyHostName(web))
            }
        }
        _ => Arc::new(Unchecked(provider.signature_verification_algorithms)),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn roots(root: &str) -> Result<RootCertStore, StoreError> {
    if root == "system" {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    }
    let unreadable =
        |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("sslrootcert {root}: {e}"));
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(root).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        store.add(cert).map_err(|e| unreadable(&e))?;
    }
    if store.is_empty() {
        return Err(unreadable(&"holds no certificate"));
    }
    Ok(store)
}

/// `verify-ca`: the chain is checked, the name is not (a certificate made for another name
/// of the same server).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: this error means the chain was good.
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

/// `prefer`/`require` without a CA: encrypted against a passive listener, no defence against
/// one in the middle (libpq's meaning; the start log says so).
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<Check, String> {
        Target::parse(url)
            .map(|t| t.check)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sslmode_is_read_as_libpq_reads_it() {
        let base = "postgres://gymgate@db.internal/gymgate";
        assert_eq!(check(base), Ok(Check::Unverified { required: false }));
        assert_eq!(
            check(&format!("{base}?sslmode=disable")),
            Ok(Check::ClearText)
        );
        assert_eq!(
            check(&format!("{base}?sslmode=require")),
            Ok(Check::Unverified { required: true })
        );
        assert_eq!(
            check(&format!("{base}?sslmode=require&sslrootcert=system")),
            Ok(Check::Chain)
        );
        assert_eq!(
            check(&format!("{base}?sslrootcert=system&sslmode=verify-full")),
            Ok(Check::Full)
        );
        assert_eq!(
            check("host=db.internal user=gymgate sslmode=verify-ca sslrootcert=system"),
            Ok(Check::Chain)
        );
        let refused = check(&format!("{base}?sslmode=verify-full")).expect_err("no CA");
        assert!(refused.contains("needs sslrootcert"), "{refused}");
        let refused = check(&format!("{base}?sslmode=verify_full")).expect_err("no such mode");
        assert!(refused.contains("sslmode=verify_full"), "{refused}");
    }

    #[test]
    fn the_other_settings_reach_the_driver_untouched() {
        let target = Target::parse(
            "postgres://gymgate@db.internal:5433/gymgate?connect_timeout=3&sslmode=require",
        )
        .expect("a good URL");
        assert_eq!(target.config.get_dbname(), Some("gymgate"));
        assert_eq!(target.config.get_ports(), &[5433]);
        assert_eq!(
            target.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(target.config.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "not a certificate\n").expect("written");
        for file in [dir.path().join("absent.crt"), empty] {
            let url = format!(
                "postgres://gymgate@db.internal/gymgate?sslmode=verify-full&sslrootcert={}",
                file.display()
            );
            let refused = check(&url).expect_err("no usable CA file");
            assert!(refused.contains("sslrootcert"), "{refused}");
        }
    }
}
