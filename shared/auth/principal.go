package auth

import "github.com/transcept/transcept/shared/catalogue"

// How a request was authenticated (Principal.Via).
const (
	ViaKey       = "key"       // Authorization: Bearer <API key>
	ViaSession   = "session"   // the transcept_session cookie
	ViaShare     = "share"     // a share link: read one lecture
	ViaAnonymous = "anonymous" // no credential
	ViaLocal     = "local"     // single-user mode (sign-in off)
)

// Principal is who a request acts for. Decide with its methods, not its
// fields: CanRead and CanWrite are the only checks a lecture needs.
type Principal struct {
	// User is the signed-in account; nil for anonymous, share and local.
	User *catalogue.User
	// Via is how the request was authenticated: ViaKey, ViaSession,
	// ViaShare, ViaAnonymous or ViaLocal.
	Via string
	// Session is the browser session (Via == ViaSession), with the CSRF
	// token pages must echo.
	Session *catalogue.Session
	// ShareLectureID is the one lecture a share link opens (Via == ViaShare).
	ShareLectureID string
	// KeyID is the API key's id (Via == ViaKey).
	KeyID string
}

// Anonymous returns the Principal of a request without credentials.
func Anonymous() Principal { return Principal{Via: ViaAnonymous} }

// Local returns the Principal of single-user mode (sign-in off): it reads
// and writes every lecture and owns new ones as "" (UserID), and counts as
// an admin: whoever runs the server alone is its operator.
func Local() Principal { return Principal{Via: ViaLocal} }

// UserID returns the signed-in user's id; "" for anonymous, share and local.
func (p Principal) UserID() string {
	if p.User == nil {
		return ""
	}
	return p.User.ID
}

// Authenticated reports whether the request acts for an account (a key or
// a session), or for the operator in single-user mode.
func (p Principal) Authenticated() bool {
	return p.Via == ViaLocal || p.signedIn()
}

func (p Principal) signedIn() bool {
	return (p.Via == ViaKey || p.Via == ViaSession) && p.User != nil && p.User.ID != "" && !p.User.Disabled
}

// IsAdmin reports whether the principal may manage users and see usage:
// an enabled admin account, or the operator in single-user mode. Admins do
// not read others' lectures (CanRead) unless shared with them.
func (p Principal) IsAdmin() bool {
	return p.Via == ViaLocal || p.signedIn() && p.User.Role == catalogue.RoleAdmin
}

// CanRead reports whether the principal may see the lecture: its owner,
// a share link to exactly this lecture, or single-user mode.
func (p Principal) CanRead(l catalogue.Lecture) bool {
	switch {
	case p.Via == ViaLocal:
		return true
	case p.Via == ViaShare:
		return p.ShareLectureID != "" && l.ID == p.ShareLectureID
	default:
		return p.CanWrite(l)
	}
}

// CanWrite reports whether the principal may change or delete the
// lecture: its owner only (or single-user mode). Share links never write.
func (p Principal) CanWrite(l catalogue.Lecture) bool {
	if p.Via == ViaLocal {
		return true
	}
	return p.signedIn() && l.Owner == p.User.ID
}
