require "socket"

# What the specs' throwaway servers (redis-server, PostgreSQL, MariaDB) share:
# a free loopback port, and the shared context that starts one for a group.
module ThrowawayServer
  module_function

  # Free now; another process may take it before the server binds it, so
  # each server tries a few ports.
  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  # `include_context name` starts `server_class` for the group (skipped,
  # saying `missing`, where it is not installed) and stops it after; the
  # examples read it as `reader`.
  def shared_context(name, server_class, reader, missing:)
    return unless defined?(RSpec) # bench/soak.rb starts servers too

    RSpec.shared_context(name) do
      before(:context) do
        skip missing unless server_class.available?
        instance_variable_set(:"@#{reader}", server_class.start)
      end

      after(:context) { instance_variable_get(:"@#{reader}")&.stop }

      define_method(reader) { instance_variable_get(:"@#{reader}") }
    end
  end
end
