"""A user's own test module, run by `manage.py test djproject.selftests`
in test_teams_without_key.py (not collected by pytest: no test_ prefix)."""

import os

from django.test import SimpleTestCase


class ItemTests(SimpleTestCase):
    def test_item(self):
        pk = int(os.environ.get("SELFTEST_PK", "1"))
        r = self.client.get(f"/api/items/{pk}")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["id"], pk)
