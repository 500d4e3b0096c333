require "json"
require "socket"

# A chat tool's incoming webhook on 127.0.0.1 for the alert specs: a real
# HTTP server that keeps every POST it is sent and answers 200.
#
#   hook = WebhookServer.start
#   on_release { hook.stop }
#   hook.url("/services/T0/B0/secret")  # MIDDLE_MANAGEMENT_ALERT_WEBHOOK_URL
#   hook.posts                           # => [{ path:, body: { "text" => … } }]
class WebhookServer
  Post = Struct.new(:path, :body, :at, keyword_init: true)

  def self.start = new.tap(&:start)

  def initialize
    @posts = []
    @lock = Mutex.new
  end

  def start
    @server = TCPServer.new("127.0.0.1", 0)
    @thread = Thread.new { loop { serve(@server.accept) } }
    @thread.report_on_exception = false
    self
  end

  def url(path) = "http://127.0.0.1:#{@server.addr[1]}#{path}"

  def posts = @lock.synchronize { @posts.dup }

  def stop
    @thread&.kill
    @server&.close
  rescue IOError
    nil
  end

  private

  def serve(client)
    request_line = client.gets.to_s
    headers = {}
    while (line = client.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.downcase] = value.to_s.strip
    end
    body = client.read(headers["content-length"].to_i)
    @lock.synchronize do
      @posts << Post.new(path: request_line.split[1], body: (JSON.parse(body) rescue body), at: Time.now)
    end
    client.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
  rescue IOError, SystemCallError
    nil
  ensure
    client&.close
  end
end
