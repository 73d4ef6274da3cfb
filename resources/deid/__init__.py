"""De-identification: PS3.15 Annex E profile and options, free-text PHI scanning, leak verification."""
