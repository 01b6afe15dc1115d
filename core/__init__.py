"""Small helpers every app may import (the project package `museum_site` only wires apps together)."""
