package config

// User is a messaging user. Password is an argon2id PHC string (see
// HashPassword); the document never holds a plaintext password.
type User struct {
	Name            string
	Password        string
	GroupMembership List
	Description     string
}

// Group is a messaging group; groups nest through GroupMembership, and a
// cycle of memberships is refused.
type Group struct {
	Name            string
	GroupMembership List
	Description     string
}

// AdminUser may use the admin API. Password is an argon2id PHC string.
type AdminUser struct {
	Name        string
	Password    string
	Role        string // SystemAdministrator, MessagingAdministrator, User
	Description string
}

// NewAdminUser returns an admin user whose password is the argon2id hash of
// plain. It does not validate name or role; the document's Validate does.
func NewAdminUser(name, plain, role string) (*AdminUser, error) {
	hash, err := HashPassword(plain)
	if err != nil {
		return nil, err
	}
	return &AdminUser{Name: name, Password: hash, Role: role}, nil
}

// SecurityProfile holds the TLS and authentication settings of an endpoint.
// With TLSEnabled a CertificateProfile is required.
type SecurityProfile struct {
	Name                      string // at most 32 bytes
	TLSEnabled                bool
	MinimumProtocolMethod     string // TLSv1.2, TLSv1.3
	UseClientCertificate      bool
	UsePasswordAuthentication bool
	AllowNullPassword         bool
	Ciphers                   string // Best, Medium, Fast
	CertificateProfile        string
	Description               string
}

// CertificateProfile names a server certificate and its key; both are file
// names inside <datadir>/config/certificates/ (Manager.CertificateDir).
type CertificateProfile struct {
	Name        string
	Certificate string
	Key         string
	Description string
}

// TrustedCertificate puts a CA certificate file into the trust store of a
// security profile. Its REST name is "<SecurityProfileName>/<TrustedCertificate>".
type TrustedCertificate struct {
	SecurityProfileName string
	TrustedCertificate  string
}

// key is the REST name of the entry.
func (t *TrustedCertificate) key() string { return t.SecurityProfileName + "/" + t.TrustedCertificate }

// Validate checks the user on its own.
func (u *User) Validate() error { return validateObject(u).join() }

// Validate checks the group on its own.
func (g *Group) Validate() error { return validateObject(g).join() }

// Validate checks the admin user on its own.
func (a *AdminUser) Validate() error { return validateObject(a).join() }

// Validate checks the profile on its own.
func (s *SecurityProfile) Validate() error { return validateObject(s).join() }

// Validate checks the profile on its own.
func (c *CertificateProfile) Validate() error { return validateObject(c).join() }

// Validate checks the entry on its own.
func (t *TrustedCertificate) Validate() error { return validateObject(t).join() }

func (s *SecurityProfile) rules(errs *errList) {
	if s.TLSEnabled && s.CertificateProfile == "" {
		errs.add("SecurityProfile", s.Name, "CertificateProfile", Missing, "CertificateProfile is required when TLSEnabled is true")
	}
}
