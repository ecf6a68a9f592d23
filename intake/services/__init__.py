"""Write-side operations of the domain; each takes a session and runs inside its transaction."""
