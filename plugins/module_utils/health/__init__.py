# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health checks shared by the vitals.django.health module, the vitals-health CLI and its endpoint.

Files in this package import each other relatively, so the same package runs inside an Ansible
module payload and standalone on a host (/usr/local/lib/vitals-health/).
"""

# The collection's version (galaxy.yml), shown by `vitals-health --version`.
__version__ = "0.1.0"
