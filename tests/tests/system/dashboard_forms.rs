//! Dashboard forms end to end over HTTP: what each page shows and what each form changes.
