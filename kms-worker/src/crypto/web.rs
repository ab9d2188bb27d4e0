//! The browser's provider: WebCrypto (`crypto.subtle`). Every long-lived
//! secret is a non-extractable `CryptoKey`; its bytes never enter WASM or
//! JS memory.
//!
//! | secret | handle | made by |
//! | --- | --- | --- |
//! | enrollment / lease wrapping key | AES-GCM, non-extractable | `importKey('raw', ikm, 'HKDF')` then `deriveKey` |
//! | master secret | HKDF base key, non-extractable | `unwrapKey('raw', ..., 'HKDF')` |
//! | VAPID / audit subkey | AES-GCM, non-extractable | `deriveKey` from the master |
//! | VAPID, audit, lease signing key | ECDSA P-256, non-extractable, `sign` only | `unwrapKey('pkcs8', ...)` |
//!
//! What passes through memory as bytes, briefly, and is wiped: the input key
//! material of a wrapping key (PBKDF2 or PRF output, gate key, lease
//! secret), the audit chain's first MAC key (bytes on every platform), the
//! instance audit key (stored in the clear), and a key still sealed in the
//! old scalar format while it is re-sealed (once, at the next unlock).
//!
//! Two operations need a key in extractable form for an instant, inside
//! WebCrypto only: a new key is generated extractable, wrapped at once and
//! its handle dropped ([`CryptoProvider::seal_new_signer`]); re-wrapping
//! the master secret for a new enrollment, and re-sealing a VAPID key for a
//! lease, unwrap an extractable copy from the sealed blob, wrap it, and drop
//! it. No extractable handle outlives the call that made it.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use kms_core::crypto::aead::{self, Sealed, NONCE_LEN};
use kms_core::crypto::kdf::{subkey_info, SUBKEY_SALT};
use kms_core::crypto::p256_key::{pkcs8_from_parts, KeyFormat, P256PublicKey};
use kms_core::ids::UserId;
use rand_core::CryptoRngCore;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use zeroize::Zeroizing;

use super::{CryptoProvider, OpenError};
use crate::error::{EngineError, EngineResult};

/// What a signer must sign, and its public key verify, before a key opened
/// from storage is used: the sealed key is the key the record names.
const KEY_CHECK_MESSAGE: &[u8] = b"kms/v1/key-check";
/// The length of a sealed master secret: nonce, 32 bytes, tag.
const SEALED_MASTER_LEN: usize = NONCE_LEN + 32 + aead::TAG_LEN;

fn internal(what: &str) -> EngineError {
    EngineError::internal(format!("WebCrypto: {what}"))
}

/// `crypto.subtle` of the global scope (a window or a worker; there is no
/// `window` in a worker). Fails where there is none (an insecure context).
pub(crate) fn global_subtle() -> EngineResult<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| internal("no crypto in the global scope"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .map_err(|_| internal("no crypto.subtle (not a secure context?)"))?;
    subtle.dyn_into::<SubtleCrypto>().map_err(|_| internal("crypto.subtle is not SubtleCrypto"))
}

/// WebCrypto of the global scope (a worker's or a window's).
#[derive(Debug, Clone)]
pub struct WebCrypto {
    subtle: SubtleCrypto,
    /// Every key handle this provider handed out, when recording (tests:
    /// "is every key the engine holds non-extractable?"). `None` in
    /// production, where nothing is kept beyond the engine's own handles.
    recorded: Option<Rc<RefCell<Vec<CryptoKey>>>>,
}

/// A master secret in the browser: the non-extractable HKDF key every
/// subkey is derived from, and the sealed blob with the wrapping key that
/// opens it, from which an extractable copy is unwrapped for the instant of
/// a re-wrap (a new enrollment, a new passphrase).
#[derive(Debug)]
pub struct WebMaster {
    hkdf: CryptoKey,
    wrap: CryptoKey,
    aad: Vec<u8>,
    sealed: Sealed,
}

/// A key pair just generated: its private half is extractable until
/// [`CryptoProvider::seal_new_signer`] wraps it and drops it.
#[derive(Debug)]
pub struct WebNewSigner {
    private: CryptoKey,
}

impl WebCrypto {
    /// `crypto.subtle` of the global scope. Fails where there is none (an
    /// insecure context).
    pub fn from_global() -> EngineResult<Self> {
        Ok(Self { subtle: global_subtle()?, recorded: None })
    }

    /// The same provider, keeping a list of every key handle it hands out
    /// (for tests that check them all).
    pub fn recording(self) -> Self {
        Self { recorded: Some(Rc::default()), ..self }
    }

    /// The handles handed out so far (empty unless recording).
    pub fn recorded_keys(&self) -> Vec<CryptoKey> {
        self.recorded.as_ref().map(|r| r.borrow().clone()).unwrap_or_default()
    }

    fn record(&self, key: &CryptoKey) {
        if let Some(r) = &self.recorded {
            r.borrow_mut().push(key.clone());
        }
    }

    async fn import_hkdf(&self, ikm: &[u8]) -> EngineResult<CryptoKey> {
        // The copy in JS memory is overwritten as soon as the key holds it.
        let bytes = Uint8Array::from(ikm);
        let promise = self.subtle.import_key_with_object(
            "raw",
            &bytes,
            &name("HKDF")?,
            false,
            &usages(&["deriveKey", "deriveBits"]),
        );
        let key = settle(promise).await;
        bytes.fill(0, 0, bytes.length());
        to_key(key.map_err(|_| internal("importKey(HKDF) refused the key material"))?)
    }

    async fn derive_aes(&self, base: &CryptoKey, salt: &[u8], info: &[u8]) -> EngineResult<CryptoKey> {
        let promise = self.subtle.derive_key_with_object_and_object(
            &hkdf_params(salt, info)?,
            base,
            &aes_algorithm()?,
            false,
            &usages(&["encrypt", "decrypt", "wrapKey", "unwrapKey"]),
        );
        let key = to_key(settle(promise).await.map_err(|_| internal("deriveKey(HKDF) failed"))?)?;
        self.record(&key);
        Ok(key)
    }

    /// Opens `sealed` (PKCS#8) under `key` as an ECDSA key.
    async fn unwrap_pkcs8(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
        extractable: bool,
    ) -> EngineResult<Result<CryptoKey, OpenError>> {
        let wrapped = Uint8Array::from(sealed.ciphertext_and_tag());
        let promise = self.subtle.unwrap_key_with_buffer_source_and_object_and_object(
            "pkcs8",
            &wrapped,
            key,
            &gcm_params(sealed.nonce(), aad)?,
            &ecdsa_algorithm()?,
            extractable,
            &usages(&["sign"]),
        );
        match settle(promise).await {
            Ok(k) => Ok(Ok(to_key(k)?)),
            Err(e) => Ok(Err(open_error(&e)?)),
        }
    }

    /// Opens a key in the old format: the scalar is decrypted into memory
    /// (once per key, while it is re-sealed), completed into PKCS#8 with the
    /// record's public key, imported, and wiped.
    async fn open_scalar(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
        expected: &P256PublicKey,
        extractable: bool,
    ) -> EngineResult<Result<(CryptoKey, Zeroizing<Vec<u8>>), OpenError>> {
        // A scalar is 32 bytes: anything longer (a PKCS#8 whose record was
        // edited to say format 1) is refused before it is decrypted into
        // memory.
        let scalar = match self.decrypt32(key, aad, sealed).await? {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let pkcs8 = pkcs8_from_parts(&scalar, expected);
        drop(scalar);
        match self.import_pkcs8(&pkcs8, extractable).await? {
            Ok(k) => Ok(Ok((k, pkcs8))),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn import_pkcs8(&self, pkcs8: &[u8], extractable: bool) -> EngineResult<Result<CryptoKey, OpenError>> {
        let bytes = Uint8Array::from(pkcs8);
        let promise =
            self.subtle.import_key_with_object("pkcs8", &bytes, &ecdsa_algorithm()?, extractable, &usages(&["sign"]));
        let key = settle(promise).await;
        bytes.fill(0, 0, bytes.length());
        match key {
            Ok(k) => Ok(Ok(to_key(k)?)),
            Err(_) => Ok(Err(OpenError::NotTheKey)),
        }
    }

    /// Whether `key` is the private half of `expected`: it signs a fixed
    /// message, and the public key verifies the signature.
    async fn is_key_of(&self, key: &CryptoKey, expected: &P256PublicKey) -> EngineResult<bool> {
        let sig = self.sign_raw(key, KEY_CHECK_MESSAGE).await?;
        let public = Uint8Array::from(expected.to_sec1_bytes().as_slice());
        let promise =
            self.subtle.import_key_with_object("raw", &public, &ecdsa_algorithm()?, true, &usages(&["verify"]));
        let public = to_key(settle(promise).await.map_err(|_| internal("importKey refused a public key"))?)?;
        let promise = self.subtle.verify_with_object_and_buffer_source_and_buffer_source(
            &ecdsa_params()?,
            &public,
            &Uint8Array::from(sig.as_slice()),
            &Uint8Array::from(KEY_CHECK_MESSAGE),
        );
        let ok = settle(promise).await.map_err(|_| internal("verify failed"))?;
        Ok(ok.as_bool() == Some(true))
    }

    async fn sign_raw(&self, key: &CryptoKey, msg: &[u8]) -> EngineResult<[u8; 64]> {
        let promise = self.subtle.sign_with_object_and_buffer_source(&ecdsa_params()?, key, &Uint8Array::from(msg));
        let sig = settle(promise).await.map_err(|_| internal("sign failed"))?;
        signature_bytes(&sig)
    }

    /// Wraps `key` (`format` `raw` or `pkcs8`) under `wrap` with `aad`.
    async fn wrap(
        &self,
        format: &str,
        key: &CryptoKey,
        wrap: &CryptoKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        let nonce = aead::fresh_nonce(&mut &mut *rng);
        let promise = self.subtle.wrap_key_with_object(format, key, wrap, &gcm_params(&nonce, aad)?);
        let ct = settle(promise).await.map_err(|_| internal("wrapKey failed"))?;
        Ok(Sealed::from_parts(&nonce, &Uint8Array::new(&ct).to_vec())?)
    }

    /// Decrypts a sealed 32-byte secret into a buffer wiped on drop; the
    /// JS copy is overwritten at once. Anything but 32 bytes of plaintext is
    /// refused before it is decrypted.
    async fn decrypt32(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Zeroizing<[u8; 32]>, OpenError>> {
        if sealed.plaintext_len() != 32 {
            return Ok(Err(OpenError::NotTheKey));
        }
        let data = Uint8Array::from(sealed.ciphertext_and_tag());
        let promise = self.subtle.decrypt_with_object_and_buffer_source(&gcm_params(sealed.nonce(), aad)?, key, &data);
        let plain = match settle(promise).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(open_error(&e)?)),
        };
        let plain = Uint8Array::new(&plain);
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.length() != 32 {
            plain.fill(0, 0, plain.length());
            return Ok(Err(OpenError::NotTheKey));
        }
        plain.copy_to(out.as_mut());
        plain.fill(0, 0, 32);
        Ok(Ok(out))
    }

    async fn encrypt(
        &self,
        bytes: &[u8],
        key: &CryptoKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        let nonce = aead::fresh_nonce(&mut &mut *rng);
        let data = Uint8Array::from(bytes);
        let promise = self.subtle.encrypt_with_object_and_buffer_source(&gcm_params(&nonce, aad)?, key, &data);
        let ct = settle(promise).await;
        data.fill(0, 0, data.length());
        let ct = ct.map_err(|_| internal("encrypt failed"))?;
        Ok(Sealed::from_parts(&nonce, &Uint8Array::new(&ct).to_vec())?)
    }
}

impl CryptoProvider for WebCrypto {
    type WrapKey = CryptoKey;
    type Master = Rc<WebMaster>;
    type NewSigner = WebNewSigner;
    type Signer = CryptoKey;

    async fn wrap_key(&self, ikm: Zeroizing<[u8; 32]>, salt: &[u8], info: &[u8]) -> EngineResult<CryptoKey> {
        let base = self.import_hkdf(ikm.as_ref()).await?;
        drop(ikm);
        self.derive_aes(&base, salt, info).await
    }

    async fn seal_bytes(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        secret: &[u8; 32],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        self.encrypt(secret, key, aad, rng).await
    }

    async fn open_bytes(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Zeroizing<[u8; 32]>, OpenError>> {
        self.decrypt32(key, aad, sealed).await
    }

    async fn new_master(
        &self,
        wrap: &CryptoKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Self::Master, Sealed)> {
        // Generated inside WebCrypto (extractable, for the one wrap that
        // follows), sealed, dropped, and opened again non-extractable.
        let promise = self.subtle.generate_key_with_object(&aes_algorithm()?, true, &usages(&["encrypt"]));
        let fresh = to_key(settle(promise).await.map_err(|_| internal("generateKey(AES-GCM) failed"))?)?;
        let sealed = self.wrap("raw", &fresh, wrap, aad, rng).await?;
        drop(fresh);
        let master = self
            .unwrap_master(wrap, aad, &sealed)
            .await?
            .map_err(|_| internal("a new master secret did not reopen"))?;
        Ok((master, sealed))
    }

    async fn unwrap_master(
        &self,
        wrap: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Self::Master, OpenError>> {
        if sealed.ciphertext_and_tag().len() + NONCE_LEN != SEALED_MASTER_LEN {
            return Ok(Err(OpenError::NotAuthentic));
        }
        let wrapped = Uint8Array::from(sealed.ciphertext_and_tag());
        let promise = self.subtle.unwrap_key_with_buffer_source_and_object_and_object(
            "raw",
            &wrapped,
            wrap,
            &gcm_params(sealed.nonce(), aad)?,
            &name("HKDF")?,
            false,
            &usages(&["deriveKey", "deriveBits"]),
        );
        let hkdf = match settle(promise).await {
            Ok(k) => to_key(k)?,
            // Whatever WebCrypto says, a blob that does not open is a wrong
            // credential (counted and throttled like one), never `internal`.
            Err(_) => return Ok(Err(OpenError::NotAuthentic)),
        };
        self.record(&hkdf);
        Ok(Ok(Rc::new(WebMaster { hkdf, wrap: wrap.clone(), aad: aad.to_vec(), sealed: sealed.clone() })))
    }

    async fn rewrap_master(
        &self,
        master: &Self::Master,
        wrap: &CryptoKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        // An extractable copy, for this one wrap, made from the sealed blob
        // the session was opened with; dropped when this returns.
        let wrapped = Uint8Array::from(master.sealed.ciphertext_and_tag());
        let promise = self.subtle.unwrap_key_with_buffer_source_and_object_and_object(
            "raw",
            &wrapped,
            &master.wrap,
            &gcm_params(master.sealed.nonce(), &master.aad)?,
            &aes_algorithm()?,
            true,
            &usages(&["encrypt"]),
        );
        let copy = to_key(settle(promise).await.map_err(|_| internal("the session's master secret did not reopen"))?)?;
        self.wrap("raw", &copy, wrap, aad, rng).await
    }

    async fn subkey(&self, master: &Self::Master, user: &UserId, purpose: &str) -> EngineResult<CryptoKey> {
        self.derive_aes(&master.hkdf, SUBKEY_SALT, &subkey_info(user.as_str(), purpose)).await
    }

    async fn subkey_bytes(
        &self,
        master: &Self::Master,
        user: &UserId,
        purpose: &str,
    ) -> EngineResult<Zeroizing<[u8; 32]>> {
        let params = hkdf_params(SUBKEY_SALT, &subkey_info(user.as_str(), purpose))?;
        let promise = self.subtle.derive_bits_with_object(&params, &master.hkdf, 256);
        let bits = settle(promise).await.map_err(|_| internal("deriveBits(HKDF) failed"))?;
        let view = Uint8Array::new(&bits);
        let mut out = Zeroizing::new([0u8; 32]);
        if view.length() != 32 {
            return Err(internal("deriveBits gave the wrong length"));
        }
        view.copy_to(out.as_mut());
        view.fill(0, 0, 32);
        Ok(out)
    }

    async fn generate_signer(&self, _rng: &mut dyn CryptoRngCore) -> EngineResult<(WebNewSigner, P256PublicKey)> {
        let promise = self.subtle.generate_key_with_object(&ecdsa_algorithm()?, true, &usages(&["sign", "verify"]));
        let pair = settle(promise).await.map_err(|_| internal("generateKey(ECDSA) failed"))?;
        let private =
            to_key(Reflect::get(&pair, &JsValue::from_str("privateKey")).map_err(|_| internal("no privateKey"))?)?;
        let public =
            to_key(Reflect::get(&pair, &JsValue::from_str("publicKey")).map_err(|_| internal("no publicKey"))?)?;
        let raw =
            settle(self.subtle.export_key("raw", &public)).await.map_err(|_| internal("exportKey(raw) failed"))?;
        let public = P256PublicKey::from_sec1_bytes(&Uint8Array::new(&raw).to_vec())?;
        Ok((WebNewSigner { private }, public))
    }

    async fn seal_new_signer(
        &self,
        new: WebNewSigner,
        key: &CryptoKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Sealed, CryptoKey)> {
        let sealed = self.wrap("pkcs8", &new.private, key, aad, rng).await?;
        // The only extractable handle there ever was ends here.
        drop(new);
        let signer =
            self.unwrap_pkcs8(key, aad, &sealed, false).await?.map_err(|_| internal("a new key did not reopen"))?;
        self.record(&signer);
        Ok((sealed, signer))
    }

    async fn open_signer(
        &self,
        key: &CryptoKey,
        aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
    ) -> EngineResult<Result<CryptoKey, OpenError>> {
        let opened = match format {
            KeyFormat::Pkcs8 => self.unwrap_pkcs8(key, aad, sealed, false).await?,
            KeyFormat::Scalar => self.open_scalar(key, aad, sealed, expected, false).await?.map(|(k, _)| k),
        };
        let signer = match opened {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        if !self.is_key_of(&signer, expected).await? {
            return Ok(Err(OpenError::NotTheKey));
        }
        self.record(&signer);
        Ok(Ok(signer))
    }

    async fn reseal_signer(
        &self,
        from: &CryptoKey,
        from_aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
        to: &CryptoKey,
        to_aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Result<Sealed, OpenError>> {
        match format {
            KeyFormat::Pkcs8 => {
                // An extractable copy for this one wrap, dropped on return.
                let copy = match self.unwrap_pkcs8(from, from_aad, sealed, true).await? {
                    Ok(k) => k,
                    Err(e) => return Ok(Err(e)),
                };
                if !self.is_key_of(&copy, expected).await? {
                    return Ok(Err(OpenError::NotTheKey));
                }
                Ok(Ok(self.wrap("pkcs8", &copy, to, to_aad, rng).await?))
            }
            KeyFormat::Scalar => {
                let (check, pkcs8) = match self.open_scalar(from, from_aad, sealed, expected, false).await? {
                    Ok(pair) => pair,
                    Err(e) => return Ok(Err(e)),
                };
                if !self.is_key_of(&check, expected).await? {
                    return Ok(Err(OpenError::NotTheKey));
                }
                Ok(Ok(self.encrypt(&pkcs8, to, to_aad, rng).await?))
            }
        }
    }

    async fn sign(&self, signer: &CryptoKey, msg: &[u8]) -> EngineResult<[u8; 64]> {
        self.sign_raw(signer, msg).await
    }

    async fn sign_all(&self, signer: &CryptoKey, msgs: &[String]) -> EngineResult<Vec<[u8; 64]>> {
        // Every signature is started (the browser runs them off the worker's
        // thread) before the first is awaited.
        let params = ecdsa_params()?;
        let pending = msgs
            .iter()
            .map(|m| self.subtle.sign_with_object_and_buffer_source(&params, signer, &Uint8Array::from(m.as_bytes())))
            .collect::<Vec<_>>();
        let mut out = Vec::with_capacity(msgs.len());
        for promise in pending {
            let sig = settle(promise).await.map_err(|_| internal("sign failed"))?;
            out.push(signature_bytes(&sig)?);
        }
        Ok(out)
    }
}

// ---- the JS side: promises, parameter objects, errors

/// Awaits a WebCrypto call (which may throw before returning a promise).
async fn settle(call: Result<js_sys::Promise, JsValue>) -> Result<JsValue, JsValue> {
    JsFuture::from(call?).await
}

/// The raw `r || s` of a WebCrypto ECDSA P-256 signature.
fn signature_bytes(sig: &JsValue) -> EngineResult<[u8; 64]> {
    let view = Uint8Array::new(sig);
    let mut out = [0u8; 64];
    if view.length() != 64 {
        return Err(internal("sign gave a signature of the wrong length"));
    }
    view.copy_to(&mut out);
    Ok(out)
}

fn to_key(v: JsValue) -> EngineResult<CryptoKey> {
    v.dyn_into::<CryptoKey>().map_err(|_| internal("expected a CryptoKey"))
}

/// A failed unwrap or decrypt: `OperationError` is an AES-GCM tag that did
/// not verify (another key, another context, altered bytes); `DataError` is
/// authentic bytes that are not a key of the asked type.
fn open_error(e: &JsValue) -> EngineResult<OpenError> {
    let name = Reflect::get(e, &JsValue::from_str("name")).ok().and_then(|n| n.as_string()).unwrap_or_default();
    match name.as_str() {
        "OperationError" => Ok(OpenError::NotAuthentic),
        "DataError" => Ok(OpenError::NotTheKey),
        other => Err(internal(&format!("unexpected {other}"))),
    }
}

fn set(obj: &Object, key: &str, value: &JsValue) -> EngineResult<()> {
    Reflect::set(obj, &JsValue::from_str(key), value).map(|_| ()).map_err(|_| internal("could not build parameters"))
}

fn name(n: &str) -> EngineResult<Object> {
    let o = Object::new();
    set(&o, "name", &JsValue::from_str(n))?;
    Ok(o)
}

fn usages(list: &[&str]) -> JsValue {
    list.iter().map(|u| JsValue::from_str(u)).collect::<Array>().into()
}

fn aes_algorithm() -> EngineResult<Object> {
    let o = name("AES-GCM")?;
    set(&o, "length", &JsValue::from(256))?;
    Ok(o)
}

fn ecdsa_algorithm() -> EngineResult<Object> {
    let o = name("ECDSA")?;
    set(&o, "namedCurve", &JsValue::from_str("P-256"))?;
    Ok(o)
}

fn ecdsa_params() -> EngineResult<Object> {
    let o = name("ECDSA")?;
    set(&o, "hash", &JsValue::from_str("SHA-256"))?;
    Ok(o)
}

fn hkdf_params(salt: &[u8], info: &[u8]) -> EngineResult<Object> {
    let o = name("HKDF")?;
    set(&o, "hash", &JsValue::from_str("SHA-256"))?;
    set(&o, "salt", &Uint8Array::from(salt))?;
    set(&o, "info", &Uint8Array::from(info))?;
    Ok(o)
}

fn gcm_params(nonce: &[u8], aad: &[u8]) -> EngineResult<Object> {
    let o = name("AES-GCM")?;
    set(&o, "iv", &Uint8Array::from(nonce))?;
    set(&o, "additionalData", &Uint8Array::from(aad))?;
    set(&o, "tagLength", &JsValue::from(128))?;
    Ok(o)
}
