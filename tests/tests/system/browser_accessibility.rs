//! Accessibility and no-JavaScript use of the dashboard, in real Chromium.
