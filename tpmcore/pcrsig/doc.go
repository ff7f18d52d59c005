// Package pcrsig reads the two halves of a signed PCR policy as systemd
// writes them for unified kernel images: the public key that signs
// (authkey: PEM, RSA-2048 or ECC NIST P-256) and the signed PCR policies
// (pcrsig: the JSON that systemd-measure sign prints,
// {"sha256":[{"pcrs":[11],"pkfp":"…","pol":"…","sig":"…"}]}).
//
// It is strict, so that a typo or a second line is refused rather than
// half-read, and it checks every signature in software against the key,
// so that nothing a TPM would reject later is accepted now. It is pure:
// no TPM, no files, no logging; errors wrap ErrInvalid or ErrOtherKey.
package pcrsig
