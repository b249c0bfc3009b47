"""Sinergi's published language: the envelope, the event models and the topic catalogue.

Every agency's service and every outside consumer depends on this package and on
nothing else of Sinergi's.
"""
