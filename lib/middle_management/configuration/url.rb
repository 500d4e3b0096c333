require "ipaddr"
require "uri"

module MiddleManagement
  class Configuration
    # The API URL's rules, apart from the other settings' because a URL is
    # where a secret hides: in its user info, query or fragment.
    module Settings
      # Hosts the token may be sent to over plain http: it never leaves the machine.
      LOOPBACK_NAMES = %w[localhost].freeze
      HOST_NAME = /\A[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\z/i

      module_function

      # The API base. A URL may carry a secret in its user info, query or
      # fragment, so those are refused without echoing the value; the token is
      # sent in clear over http, so that is for loopback hosts only.
      def url(name, value)
        text = value.to_s.strip
        uri = URI.parse(text)
        uri.is_a?(URI::HTTP) && uri.hostname && !uri.hostname.empty? or raise URI::InvalidURIError
        fail_quietly!(name, "must not contain a user name or password; set the API key instead") if uri.userinfo
        fail_quietly!(name, "must not contain a query (?…); set the API key instead") if uri.query
        fail_quietly!(name, "must not contain a fragment (#…)") if uri.fragment
        fail!(name, text, "has a port out of range") unless (1..65_535).cover?(uri.port)
        host_kind(uri.host) or fail!(name, text, "has a host that is not a name or an IP address")
        if uri.scheme.casecmp?("http") && !loopback?(uri.host)
          fail!(name, text, "must use https (http only for a loopback host: 127.0.0.1, ::1, localhost)")
        end
        text.chomp("/")
      rescue URI::InvalidURIError
        fail_quietly!(name, "must be an http(s) URL such as https://api.heroku.com")
      end

      # Where alerts are posted. The whole URL is a secret (Slack's carries
      # its token in the path), so no message echoes it; http only to a
      # loopback host, like the API's.
      def webhook_url(name, value)
        text = value.to_s.strip
        uri = URI.parse(text)
        uri.is_a?(URI::HTTP) && uri.hostname && !uri.hostname.empty? or raise URI::InvalidURIError
        fail_quietly!(name, "must not contain a user name or password") if uri.userinfo
        fail_quietly!(name, "has a host that is not a name or an IP address") unless host_kind(uri.host)
        if uri.scheme.casecmp?("http") && !loopback?(uri.host)
          fail_quietly!(name, "must use https (http only for a loopback host: 127.0.0.1, ::1, localhost)")
        end
        text
      rescue URI::InvalidURIError
        fail_quietly!(name, "must be an http(s) URL such as https://hooks.slack.com/services/…")
      end

      # The URL without anything that could hold a secret, for `inspect`.
      def shown_url(value)
        uri = URI.parse(value.to_s)
        port = uri.port == uri.default_port ? "" : ":#{uri.port}"
        "#{uri.scheme}://#{uri.host}#{port}#{uri.path}"
      rescue URI::Error
        "[unparsable URL]"
      end

      # :ip or :name for a host that the native client (WHATWG URL rules)
      # reads the same way; nil for anything else.
      def host_kind(host)
        bracketed = host.start_with?("[")
        address = ip_address(host)
        return address.ipv6? == bracketed ? :ip : nil if address
        return nil if bracketed

        # A name whose last label is a number would be read as an IPv4 address.
        :name if host.match?(HOST_NAME) && !host.split(".").last.match?(/\A(\d+|0x\h*)\z/i)
      end

      def ip_address(host)
        IPAddr.new(host.delete_prefix("[").delete_suffix("]"))
      rescue ArgumentError
        nil
      end

      def loopback?(host)
        LOOPBACK_NAMES.include?(host.downcase) || ip_address(host)&.loopback? || false
      end
    end
  end
end
