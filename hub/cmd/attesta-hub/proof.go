package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
)

// proofCmd runs 'proof verify', 'proof export' and 'proof key'.
func proofCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	switch cmd {
	case "proof verify":
		return proofVerify(args, stdout)
	case "proof export":
		return proofExport(ctx, args, stdout)
	}
	return proofKey(ctx, args, stdout)
}

// proofVerify checks a bundle offline: no database, no network.
func proofVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("attesta-hub proof verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return apperr.Errorf(apperr.EINVALID, "proof verify takes one bundle file (attesta-proof-<id>.zip)")
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "cannot open the bundle: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, proof.MaxBundleBytes+1))
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "cannot read the bundle: %v", err)
	}
	rep := proof.Verify(b) // says itself what is wrong with a file too large or not a zip
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if !rep.Valid {
		failed := 0
		for _, c := range rep.Checks {
			if !c.OK() {
				failed++
			}
		}
		return apperr.Errorf(apperr.EINVALID, "%s is INVALID: %d check(s) did not pass", path, failed)
	}
	return nil
}

// proofExport writes a record's bundle from the local database, for head
// office without an API token.
func proofExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("proof export")
	out := fs.String("out", "", `where to write the zip ("-" for stdout; default attesta-proof-<id>.zip)`)
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return apperr.Errorf(apperr.EINVALID, "proof export takes one record id")
	}
	id := fs.Arg(0)
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	b, err := st.Proof(ctx, id)
	if err != nil {
		return err
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	z, err := proof.Build(b, keys.SignPriv)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(z)
		return err
	}
	if *out == "" {
		*out = "attesta-proof-" + id + ".zip"
	}
	if err := os.WriteFile(*out, z, 0o600); err != nil { // it holds personal data
		return apperr.Errorf(apperr.EINVALID, "cannot write the bundle: %v", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes); check it with: attesta-hub proof verify %s\n", *out, len(z), *out)
	return nil
}

// proofKey prints the hub's signing key and the fingerprint inspectors
// compare with what 'proof verify' prints.
func proofKey(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("proof key")
	st, err := parseAndOpen(ctx, fs, l, args, data)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hub signing key (Ed25519): %s\nSHA-256 fingerprint:       %s\n", record.PublicKeyString(keys.SignPub), proof.Fingerprint(keys.SignPub))
	fmt.Fprintln(stdout, "Publish the fingerprint where inspectors can find it (the privacy notice, the controller's website):\n'attesta-hub proof verify' prints the fingerprint of the key that signed a bundle, to be compared with it.")
	return nil
}
