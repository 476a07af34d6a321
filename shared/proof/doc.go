// Package proof writes and checks proof bundles (prove di genuinità): one
// zip file that lets an inspector, offline and without Attesta's database,
// check that a consent record is what the device signed, what the visitor
// was shown, chose and signed, and what the hub received and when.
//
// It imports only shared/record and the standard library, so an inspector
// can vendor it; Build is used by the hub, Verify by anyone.
//
// # Layout (format attesta-proof/1)
//
//	manifest.json                 format, event id, hub-side metadata, every other file with its SHA-256
//	manifest.sig                  hub Ed25519 signature over "attesta/proof-manifest/v1\n" + manifest.json
//	summary.html                  what was shown, chosen and signed, where, when, by which device; self-contained
//	hub/public-key.txt            the hub's Ed25519 signing key (base64)
//	record/envelope.json          the signed envelope, the exact bytes the device signed
//	record/envelope.sig           the device's Ed25519 signature (64 raw bytes) over "attesta/record/v1\n" + envelope.json
//	record/countersignature.json  the hub's countersignature over (envelope SHA-256, received_at)
//	record/payload.json           the opened personal payload; its SHA-256 is the envelope's payload_sha256
//	record/signature.png          the handwritten signature as captured; its SHA-256 is signature_sha256
//	record/signature.svg          the same signature drawn from the payload's vector points
//	related/<id>/…                records that belong with this one (the notice_viewed record of a
//	                              consent, its withdrawals, or the consent a withdrawal refers to), same files
//	chain/<seq>/…                 the record's successors in its device stream, in seq order, up to the
//	                              hub's acknowledged head (at most MaxChain): envelope, signature, countersignature
//	devices/<id>/enrollment.json  the enrollment record the hub issued for each signing device, as stored
//	devices/<id>/public-key.txt   that device's Ed25519 key (base64), the one in the enrollment record
//	notices/<id>/v<n>.txt         the exact notice text shown; its SHA-256 is the envelope's notice.sha256
//
// Records made by the hub itself (a withdrawal at head office or from a
// receipt page, collector "hub") are signed with the hub's key: for them the
// "device" is the hub, and there is no devices/hub folder.
//
// The zip stores files uncompressed in a canonical layout (fixed order as
// listed in the manifest, fixed timestamps, no extra fields or comments), so
// a verifier can re-encode what it read and demand the same bytes: a change
// to any byte of the file, inside a file or in the zip's own headers, is
// detected and named. The verifier also draws signature.svg and
// summary.html again from the files and compares them; a summary laid out
// by another version of the hub passes only if it is, byte for byte, the
// page the hub signed, so old bundles stay valid when the verifier changes.
//
// # Trust model
//
// The verifier trusts two things and checks everything else:
//
//  1. the hub's public signing key, which an inspector must compare out of
//     band with the key the controller publishes (Verify reports its SHA-256
//     fingerprint; 'attesta-hub proof key' prints it at head office);
//  2. that the hub issued the enrollment records it holds: the device key
//     binding (device id ↔ Ed25519 key) comes from the enrollment record.
//
// The hub signs the manifest, and the manifest lists every file with its
// SHA-256, so the enrollment record and the device key are covered by the
// hub's signature together with the rest. We sign at export rather than
// signing each enrollment record at enrollment time because the hub's
// private key lives in the same database as the enrollment records: anyone
// able to rewrite one could re-sign it, so an enrollment-time signature would
// add no protection, while the manifest signature makes the whole bundle
// tamper-evident from the moment it leaves the hub. What predates the export
// is pinned independently: each record carries the device's signature made
// at capture and the hub's countersignature made when it arrived.
//
// Given those, a VALID bundle shows: the device enrolled as the enrollment
// record says signed this exact envelope; the envelope pins the payload
// (identity, handwritten signature), the exact notice text and the choices
// by SHA-256; the hub held the envelope at received_at; and the device went
// on to sign the chained successors the hub holds, so the record was not
// slipped in later. It does not show that the device's clock was right
// (the manifest gives the hub-corrected time and any clock_suspect flag) or
// that the person is who they said they were.
//
// # Personal data
//
// A bundle holds the visitor's identity and handwritten signature, and
// payload.json also holds the secret token of their receipt page, with
// which anyone can withdraw their consents. The token is inside the bytes
// the envelope's payload_sha256 pins, so it cannot be left out without
// breaking the proof: hand bundles only to whom the controller would show
// the consent itself. Chain records carry other visitors' payloads only
// sealed to the hub key, never opened.
package proof
