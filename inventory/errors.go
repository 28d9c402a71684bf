package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"
)

// ErrorKind classifies why a region could not be listed.
type ErrorKind int

// The kinds of per-region failure.
const (
	KindOther          ErrorKind = iota
	KindAccessDenied             // AccessDeniedException, UnauthorizedOperation, AccessDenied
	KindThrottled                // still throttled after the SDK's retries
	KindRegionDisabled           // opt-in region not enabled for the account (AuthFailure, UnrecognizedClientException, OptInRequired)
	KindTimeout                  // a call exceeded Options.CallTimeout
	KindCanceled                 // the scan's context was canceled
)

func (k ErrorKind) String() string {
	switch k {
	case KindAccessDenied:
		return "access denied"
	case KindThrottled:
		return "throttled"
	case KindRegionDisabled:
		return "region not enabled"
	case KindTimeout:
		return "timed out"
	case KindCanceled:
		return "canceled"
	}
	return "failed"
}

// RegionError is the error of a Result whose region could not be listed.
// Kind says why; Err is the underlying SDK error.
type RegionError struct {
	Profile string
	Region  string
	Op      string // the API call that failed, e.g. "ssm:DescribeInstanceInformation"
	Kind    ErrorKind
	Err     error
}

func (e *RegionError) Error() string {
	var hint string
	switch e.Kind {
	case KindAccessDenied:
		hint = fmt.Sprintf("; allow %s for profile %s in %s", e.Op, e.Profile, e.Region)
	case KindThrottled:
		hint = "; retry later or lower --concurrency"
	case KindRegionDisabled:
		hint = "; enable the region for the account or leave it out with --region"
	case KindTimeout:
		hint = "; check the network path to the AWS endpoint"
	}
	// The service's code and message say it all; the SDK's wrapping (operation,
	// status, request ID) stays reachable through Unwrap.
	cause := e.Err.Error()
	var ae smithy.APIError
	if errors.As(e.Err, &ae) {
		cause = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return fmt.Sprintf("%s %s: %s %s (%s)%s", e.Profile, e.Region, e.Op, e.Kind, cause, hint)
}

func (e *RegionError) Unwrap() error { return e.Err }

// SSOExpiredError reports that a profile's IAM Identity Center (SSO) token is
// expired or missing. The fix is `aws sso login --profile Profile`.
type SSOExpiredError struct {
	Profile string
	Err     error
}

func (e *SSOExpiredError) Error() string {
	return fmt.Sprintf("profile %s: SSO session expired or missing: run `aws sso login --profile %s`", e.Profile, e.Profile)
}

func (e *SSOExpiredError) Unwrap() error { return e.Err }

// CredentialsError reports that a profile's credentials could not be
// obtained (unknown profile, failing credential_process, MFA prompt
// declined, …).
type CredentialsError struct {
	Profile string
	Err     error
}

func (e *CredentialsError) Error() string {
	var missing config.SharedConfigProfileNotExistError
	if errors.As(e.Err, &missing) {
		return fmt.Sprintf("profile %s is not defined in the AWS config or credentials files: "+
			"create it with `aws configure --profile %s` (or `aws configure sso`), or pick another with --profile "+
			"(`aws configure list-profiles` lists them)", e.Profile, e.Profile)
	}
	return fmt.Sprintf("profile %s: get credentials: %v (configure credentials with `aws configure --profile %s` "+
		"or `aws sso login --profile %s`, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", e.Profile, e.Err, e.Profile, e.Profile)
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// ClassifyCredentialsError maps an error from loading or retrieving a
// profile's credentials to *SSOExpiredError (when the SDK reports an invalid
// SSO token, or the profile uses SSO) or *CredentialsError. Commands other
// than the scan use it to report credential failures the same way.
func ClassifyCredentialsError(p Profile, err error) error {
	if err == nil {
		return nil
	}
	var ite *ssocreds.InvalidTokenError
	if errors.As(err, &ite) || (p.SSO && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)) {
		return &SSOExpiredError{Profile: p.Name, Err: err}
	}
	return &CredentialsError{Profile: p.Name, Err: err}
}

// classify wraps a failed call of a region scan as *RegionError.
func classify(profile, region, op string, err error) error {
	re := &RegionError{Profile: profile, Region: region, Op: op, Err: err}
	var ae smithy.APIError
	switch {
	case errors.Is(err, context.Canceled):
		re.Kind = KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		re.Kind = KindTimeout
	case errors.As(err, &ae):
		switch code := ae.ErrorCode(); {
		case code == "AccessDeniedException" || code == "UnauthorizedOperation" || code == "AccessDenied" || strings.HasSuffix(code, "AccessDenied"):
			re.Kind = KindAccessDenied
		case code == "ThrottlingException" || code == "RequestLimitExceeded" || code == "Throttling" || code == "TooManyRequestsException":
			re.Kind = KindThrottled
		case code == "AuthFailure" || code == "UnrecognizedClientException" || code == "InvalidClientTokenId" || code == "OptInRequired":
			re.Kind = KindRegionDisabled
		}
	}
	return re
}
