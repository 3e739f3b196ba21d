# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The app root every release module works in.
    DOCUMENTATION = r"""
options:
  root:
    description: The app root holding C(releases/) and C(current).
    type: path
    required: true
"""
