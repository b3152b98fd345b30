"""The pilot register: adding, changing and importing pilots."""
