"""Tests of greeksmargin.front."""
