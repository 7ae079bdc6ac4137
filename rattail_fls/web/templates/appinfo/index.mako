## -*- coding: utf-8; -*-
## Tailbone's App Info page over wuttaweb's: wuttaweb's middle buttons link to
## routes Tailbone does not have (master_views) with a component it lacks
## (wutta-button); Tailbone's own buttons above them cover the same ground.
<%inherit file="tailbone:templates/appinfo/index.mako" />

<%def name="middle_buttons()"></%def>
