//! Ansible's `now(utc=False, fmt=None)` global: the controller's time, as
//! text (Ansible returns a datetime object; its default text form is this).

use minijinja::Error;
use minijinja::value::Kwargs;

pub fn now(kwargs: Kwargs) -> Result<String, Error> {
    let utc: Option<bool> = kwargs.get("utc")?;
    let fmt: Option<String> = kwargs.get("fmt")?;
    kwargs.assert_all_used()?;
    let zoned = if utc == Some(true) {
        jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC)
    } else {
        jiff::Zoned::now()
    };
    // Python's %f is always six digits.
    let fmt = fmt
        .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S.%f".into())
        .replace("%f", "%6f");
    Ok(zoned.strftime(&fmt).to_string())
}
