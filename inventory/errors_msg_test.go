package inventory

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
)

// TestCredentialsErrorNamesNextStep: a missing profile and a profile
// without usable credentials each say what to run next, not just the SDK's
// chain of errors.
func TestCredentialsErrorNamesNextStep(t *testing.T) {
	missing := ClassifyCredentialsError(Profile{Name: "prod"}, config.SharedConfigProfileNotExistError{Profile: "prod"})
	for _, want := range []string{"profile prod is not defined", "aws configure --profile prod", "--profile"} {
		if !strings.Contains(missing.Error(), want) {
			t.Errorf("missing profile: %q lacks %q", missing, want)
		}
	}
	none := ClassifyCredentialsError(Profile{Name: "dev"}, errors.New("no EC2 IMDS role found"))
	for _, want := range []string{"profile dev", "no EC2 IMDS role found", "aws configure --profile dev", "aws sso login --profile dev"} {
		if !strings.Contains(none.Error(), want) {
			t.Errorf("no credentials: %q lacks %q", none, want)
		}
	}
	var ce *CredentialsError
	if !errors.As(missing, &ce) || !errors.As(none, &ce) {
		t.Errorf("want *CredentialsError, got %T and %T", missing, none)
	}
}
