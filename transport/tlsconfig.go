package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsConfig builds the client TLS configuration of o: the system roots
// plus CAFile, the client certificate, the SNI override.
func tlsConfig(o TLSOptions) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // the scenario asked for it (defaults.tls.insecure_skip_verify)
		ServerName:         o.ServerName,
		// Resume sessions on new connections, as browsers and other
		// clients do, instead of a full handshake each time (bounded LRU).
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	var errs []error
	if o.CAFile != "" {
		pool, err := caPool(o.CAFile)
		if err != nil {
			errs = append(errs, err)
		}
		conf.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls client certificate %s with key %s: %w", o.CertFile, o.KeyFile, err))
		} else {
			conf.Certificates = []tls.Certificate{cert}
		}
	case o.CertFile != "":
		errs = append(errs, fmt.Errorf("tls client certificate %s: key_file is missing", o.CertFile))
	case o.KeyFile != "":
		errs = append(errs, fmt.Errorf("tls client key %s: cert_file is missing", o.KeyFile))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return conf, nil
}

// caPool returns the system roots with the certificates of file added.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// No system roots (some minimal containers): the file alone.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", file)
	}
	return pool, nil
}
