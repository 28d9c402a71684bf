package inventory

import "time"

// Result is the outcome of scanning one (profile, region): the instances
// found there, or the reason that region could not be listed. A failed
// region is data, never a failed scan.
type Result struct {
	Profile   string
	Region    string
	Instances []Instance
	// Err is the per-region failure (AccessDenied, throttled out, SSO token
	// expired, opt-in region disabled, …), with a message that names the cause
	// and the next step. Instances is empty when Err is set.
	Err error
	// Partial is a non-fatal failure: the SSM rows are listed but EC2
	// enrichment (Name tag, state, network) failed, as a *RegionError.
	Partial error
	// FromCache marks rows read from the disk cache; Fetched says when they
	// were fetched from AWS (their age is time.Since(Fetched)).
	FromCache bool
	Fetched   time.Time
}
