insert into {schema}.migrations (version, name) values (%(version)s, %(name)s)
