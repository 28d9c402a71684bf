package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// tlsServer is the sandbox's second loopback port: the same API and gateway
// over https/wss, with a certificate from a CA generated at start. The CA
// certificate is written as PEM so SDKs (AWS_CA_BUNDLE) and the session
// client can trust it.
type tlsServer struct {
	ln     net.Listener
	srv    *http.Server
	url    string // https://127.0.0.1:port
	caFile string
	caPEM  []byte
	tmpDir string // removed on close if we created it
}

func startTLS(g *gateway) (*tlsServer, error) {
	addr := g.opts.TLSAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	caCert, caKey, caDER, err := newCA()
	if err != nil {
		return nil, fmt.Errorf("sandbox: create TLS CA: %w", err)
	}
	leaf, err := newLeaf(caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create TLS certificate: %w", err)
	}
	t := &tlsServer{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	dir := g.opts.CADir
	if dir == "" {
		dir, err = os.MkdirTemp("", "ssmtui-sandbox-ca-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: create CA directory: %w", err)
		}
		t.tmpDir = dir
	}
	t.caFile = filepath.Join(dir, "sandbox-ca.pem")
	if err := os.WriteFile(t.caFile, t.caPEM, 0o644); err != nil {
		_ = t.removeFiles()
		return nil, fmt.Errorf("sandbox: write CA file: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		_ = t.removeFiles()
		return nil, fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	t.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12})
	t.url = "https://" + ln.Addr().String()
	t.srv = &http.Server{Handler: g.sb.mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
	g.goTracked(func() { _ = t.srv.Serve(t.ln) })
	return t, nil
}

func (t *tlsServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := t.srv.Shutdown(ctx); err != nil {
		return t.srv.Close()
	}
	return nil
}

func (t *tlsServer) removeFiles() error {
	if t.tmpDir != "" {
		return os.RemoveAll(t.tmpDir)
	}
	if t.caFile != "" {
		if err := os.Remove(t.caFile); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "ssmtui sandbox CA", Organization: []string{"ssmtui sandbox"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, der, nil
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// TLSURL is the https endpoint of the sandbox's TLS port ("" if disabled).
// StartSession calls made there return wss:// StreamUrls.
func (s *Sandbox) TLSURL() string {
	if s.gw.tls == nil {
		return ""
	}
	return s.gw.tls.url
}

// CAFile is the path of the PEM CA certificate that signs the TLS port's
// certificate ("" if TLS is disabled).
func (s *Sandbox) CAFile() string {
	if s.gw.tls == nil {
		return ""
	}
	return s.gw.tls.caFile
}

// CACertPool returns a pool holding the sandbox CA, for TLS clients.
func (s *Sandbox) CACertPool() *x509.CertPool {
	if s.gw.tls == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.gw.tls.caPEM)
	return p
}
